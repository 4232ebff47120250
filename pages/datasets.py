"""Datasets: every dataset at a glance; select one to act on it.

What it fetches: the shared slim list of datasets (ui/listing.py: asked for once per server, then kept;
a write here clears it, and Refresh drops it with the cached counts; the table's caption says when the
server listed it) and the connection count of the selected dataset. The table shows the counts
already known (cached by any page) and leaves the rest blank: one count per dataset would be 1,000
requests on a real PrivX. While a dataset trains, the page watches the list through the listing's own
check against `/status/internal` and runs again when a training ended.
"""

import time
from datetime import datetime

import streamlit as st

import ui.bootstrap  # noqa: F401  (first: the legacy pages/ folder workaround)
from ueba_api import review
from ueba_api.client import UebaClient
from ueba_api.errors import UebaError
from ueba_api.frames import Run
from ueba_api.models import Dataset, TrainingResult, TrainingStatus
from ueba_api.periods import describe_time
from ueba_api.review import MISSING
from ui import calls, feedback, listing, navigation, text
from ui.widgets import confirm_button, counted, dataset_badges

POLL_SECONDS = 3
# Bumped to clear the table's selection once the selected dataset is gone.
TABLE_VERSION = "datasets.table_version"


def forget_selection() -> None:
    st.session_state[TABLE_VERSION] = st.session_state.get(TABLE_VERSION, 0) + 1


client = calls.get_client()
may_write = calls.can_manage(client)
# Disabled write actions say why.
WRITE_OPTIONS = {} if may_write else {"disabled": True, "help": calls.VIEW_ONLY_HELP}

with st.container(horizontal=True, vertical_alignment="bottom"):
    st.title("Datasets", width="stretch")
    st.button("Refresh", key="datasets.refresh", icon=":material/refresh:", on_click=calls.forget_all_answers,
              help=f"Ask the server again for the datasets and their connection counts (the list is kept "
                   f"for up to {listing.LISTING_TTL_SECONDS} s, and changes made elsewhere show after that)")
    if st.button("New dataset", key="datasets.new", type="primary", icon=":material/add:", **WRITE_OPTIONS):
        st.switch_page(navigation.EDITOR_PAGE)

TABLE_COLUMNS = ["comment", "active", "start", "end", "exclusions", "connections", "last_training",
                 "latest_status", "runs"]
TABLE_CONFIG = {
    "comment": st.column_config.TextColumn("Comment", width=160),
    "active": st.column_config.TextColumn("Active", help="The dataset inference runs on", width=70),
    "start": st.column_config.DatetimeColumn("Start (UTC)", format="YYYY-MM-DD HH:mm", width=118),
    "end": st.column_config.DatetimeColumn("End (UTC)", format="YYYY-MM-DD HH:mm", width=118),
    "exclusions": st.column_config.NumberColumn("Exclusions", help="Excluded periods", width=80),
    "connections": st.column_config.NumberColumn("Connections", format="localized", width=90,
                                                 help="Connections in the range minus the exclusions"),
    "last_training": st.column_config.DatetimeColumn("Last training (UTC)", format="YYYY-MM-DD HH:mm",
                                                     width=128, help="The latest successful training"),
    "latest_status": st.column_config.TextColumn("Latest status", width=90),
    "runs": st.column_config.NumberColumn("Runs", help="Trainings in the history", width=50),
}


def pick_from_table(
    datasets: listing.Listing, counts: dict[str, int], listed_at: datetime | None
) -> Dataset | None:
    """The datasets table (listed by the server at `listed_at`); the dataset of the selected row, if any."""
    table = listing.table(datasets, counts)
    table["active"] = table["active"].map({True: "● active", False: ""})
    table["comment"] = table["comment"].fillna("(no comment)")
    selection = st.dataframe(
        table,
        key=f"datasets.table.{st.session_state.setdefault(TABLE_VERSION, 0)}",
        on_select="rerun",
        selection_mode="single-row",
        hide_index=True,
        placeholder=MISSING,
        column_order=TABLE_COLUMNS,
        column_config=TABLE_CONFIG,
    )
    when = f" Listed by the server at {describe_time(listed_at)}." if listed_at else ""
    st.caption(f"Select a row to open that dataset.{when}")
    rows = selection.selection.rows
    return datasets[rows[0]] if rows and rows[0] < len(datasets) else None


def duplicate(client: UebaClient, dataset: Dataset) -> None:
    # The same definition under a new id: everything a client may set, the comment marked as a copy.
    comment = f"{dataset.comment or '(no comment)'} (copy)"
    copy = Dataset(time_range_settings=dataset.time_range_settings, comment=comment,
                   use_for_inference_once_trained=dataset.use_for_inference_once_trained)
    with calls.api_call("duplicate the dataset") as outcome:
        new_id = client.create_dataset(copy)
    if outcome.ok:
        listing.forget_listing()
        feedback.notify(f"Duplicated as “{text.dataset_name(copy.comment)}”.")
        navigation.open_dataset(new_id)


def delete(client: UebaClient, dataset: Dataset, name: str) -> bool:
    deleted = calls.perform("delete the dataset", lambda: client.delete_dataset(dataset.id),
                              f"Deleted “{name}”.")
    if deleted:
        forget_selection()
    return written(deleted)


def activate(client: UebaClient, dataset: Dataset, name: str) -> bool:
    return written(calls.perform("activate the dataset", lambda: client.start_analyzing(dataset.id),
                                 f"“{name}” is now the active dataset: new connections are analyzed with "
                                 "its model."))


def deactivate(client: UebaClient) -> bool:
    return written(calls.perform("deactivate the dataset", client.stop_analyzing,
                                 "Analyzing stopped: no dataset is active."))


def written(ok: bool) -> bool:
    """After a write: the shared list no longer says what the server holds (badges, datasets)."""
    if ok:
        listing.forget_listing()
    return ok


def dataset_panel(client: UebaClient, dataset: Dataset) -> None:
    """The selected dataset: what it is, and what can be done with it."""
    name = text.dataset_name(dataset.comment)  # plain, short: it goes into markdown
    time_range = dataset.time_range_settings

    def key(action: str) -> str:
        """Confirmations are keyed to the dataset they were raised for: one left open never asks about
        another dataset."""
        return f"datasets.{action}.{dataset.id}"

    with st.container(border=True):
        with st.container(horizontal=True, vertical_alignment="center"):
            text.comment_heading(dataset.comment, st.subheader, width="content")
            dataset_badges(dataset)
        text.full_text(dataset.comment)
        start_text = describe_time(time_range.start) if time_range.start else "the first connection"
        end_text = describe_time(time_range.end) if time_range.end else "the latest connection"
        connections = calls.known_count(client, time_range)  # this one dataset's; cached for the table
        connections_text = "connections unknown" if connections is None else f"{connections:,} connections"
        st.caption(f"From {start_text} to {end_text}, {counted(len(time_range.exclude), 'excluded period')}, "
                   f"{connections_text} · id `{dataset.id}`")

        with st.container(horizontal=True):
            if st.button("Open", key="datasets.open", type="primary", icon=":material/edit_calendar:"):
                navigation.open_dataset(dataset.id)
            if st.button("Training review", key="datasets.training", icon=":material/monitoring:"):
                navigation.open_dataset(dataset.id, navigation.TRAINING_PAGE)
            if st.button("Duplicate", key="datasets.duplicate", icon=":material/content_copy:",
                         **WRITE_OPTIONS):
                duplicate(client, dataset)
            if dataset.is_active:
                confirm_button(
                    "Deactivate", key=key("deactivate"), icon=":material/pause_circle:", **WRITE_OPTIONS,
                    title="Stop analyzing?",
                    message=f"“{name}” is the active dataset. Deactivating it **stops analyzing new "
                            "connections**: no anomalies are flagged until a dataset is activated again.",
                    confirm_label="Deactivate", on_confirm=lambda: deactivate(client))
            else:
                trained = any(result.status == TrainingStatus.SUCCESS for result in dataset.training_results)
                untrained = {"disabled": True,
                             "help": "Only a dataset with a successful training can be activated."}
                confirm_button(
                    "Activate", key=key("activate"), icon=":material/play_circle:",
                    **(WRITE_OPTIONS or ({} if trained else untrained)),
                    title="Start analyzing with this dataset?",
                    message=f"New connections will be analyzed with the model of “{name}”, replacing the "
                            "active dataset's model, if any.",
                    confirm_label="Activate", on_confirm=lambda: activate(client, dataset, name))
            in_use = {"disabled": True, "help": "The active dataset cannot be deleted: deactivate it first."}
            confirm_button(
                "Delete", key=key("delete"), icon=":material/delete:",
                **(WRITE_OPTIONS or (in_use if dataset.is_active else {})),
                title="Delete this dataset?",
                message=f"“{name}”, its training history ({counted(len(dataset.training_results), 'run')}) "
                        "and its model weights will be deleted. This cannot be undone.",
                confirm_label="Delete", on_confirm=lambda: delete(client, dataset, name))
        if dataset.is_active:
            st.caption("The active dataset cannot be deleted or changed: deactivate it first.")


def datasets_view(client: UebaClient) -> listing.Listing | None:
    """The table and the selected dataset; the datasets shown (None if they could not be loaded)."""
    with calls.api_call("load the datasets") as call:
        datasets = listing.datasets(
            client, wait=lambda fetch: calls.wait_for("load the datasets", fetch, client))
    if not call.ok:
        return None
    # Announces the trainings that ended, each read in full: the listed runs have no epochs to count.
    navigation.follow_trainings(datasets, complete=True, ended_result=lambda run: ended_result(client, run))
    if not datasets:
        st.info("No datasets yet. A dataset says which connections a model learns from: "
                "create one with **New dataset**.", icon=":material/info:")
        return datasets
    dataset = pick_from_table(datasets, known_counts(datasets), listing.listed_at(client, datasets))
    if dataset is not None:
        dataset_panel(client, dataset)
    return datasets


def ended_result(client: UebaClient, run: Run) -> TrainingResult:
    """The ended run as its dataset holds it (one request, at a training's end); the listed run if that
    cannot be read (the announcement then leaves out what the list lacks)."""
    try:
        results = client.get_dataset(run.dataset_id or "", logs=False, bin_count=1).training_results
    except UebaError:
        return run.result
    return results[run.number - 1] if len(results) >= run.number else run.result


def known_counts(datasets: listing.Listing) -> dict[str, int]:
    """The connection counts already counted (by this page's panel or any other page), asking nothing."""
    counts = calls.counted_already(dataset.time_range_settings for dataset in datasets)
    return {dataset.id or "": count for dataset, count in zip(datasets, counts, strict=True)
            if count is not None}


def watch_trainings(client: UebaClient, shown: review.RunsSnapshot, drawn_at: float) -> None:
    """Polled while a dataset trains: once the datasets' runs differ from those shown, the whole page runs
    again, which draws them and announces what ended (and stops polling once nothing trains).

    Only this fragment reruns on the timer, and it draws nothing: the table and a dialog open on it stay
    as they are until something changed. Its first call, in the page's own run, has nothing new to see.
    """
    if time.monotonic() - drawn_at < POLL_SECONDS / 2:
        return
    try:
        # The shared list: asks the server at most every `listing.CHECK_SECONDS`, and for the whole list
        # again only once a training has ended (or a write cleared it).
        now = review.runs_snapshot(listing.datasets(client))
    except UebaError:
        return  # the next poll asks again; the page's own run shows what is wrong
    if now != shown:
        st.rerun(scope="app")


shown = datasets_view(client)
if shown and any(review.is_training(dataset) for dataset in shown):
    snapshot = review.runs_snapshot(shown)
    st.fragment(run_every=POLL_SECONDS)(watch_trainings)(client, snapshot, time.monotonic())
