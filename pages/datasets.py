"""Datasets: every dataset at a glance; select one to act on it."""

import streamlit as st

from pages import session
from pages.widgets import confirm_button, counted, status_badge
from ueba_api.frames import datasets_table
from ueba_api.models import Dataset, TrainingStatus
from ueba_api.periods import describe_time
from ueba_api.review import MISSING

# Bumped to clear the table's selection once the selected dataset is gone.
TABLE_VERSION = "datasets.table_version"


def forget_selection() -> None:
    st.session_state[TABLE_VERSION] = st.session_state.get(TABLE_VERSION, 0) + 1


client = session.get_client()

with st.container(horizontal=True, vertical_alignment="bottom"):
    st.title("Datasets", width="stretch")
    if st.button("New dataset", key="datasets.new", type="primary", icon=":material/add:"):
        st.switch_page(session.EDITOR_PAGE)

with session.api_call("load the datasets") as call:
    datasets = client.list_datasets().items
    counts = {item.id: session.count_connections(client, item.time_range_settings) for item in datasets}
if not call.ok:
    st.stop()
if not datasets:
    st.info("No datasets yet. A dataset says which connections a model learns from: "
            "create one with **New dataset**.", icon=":material/info:")
    st.stop()

table = datasets_table(datasets, counts)
table["active"] = table["active"].map({True: "● active", False: ""})
table["comment"] = table["comment"].fillna("(no comment)")
selection = st.dataframe(
    table,
    key=f"datasets.table.{st.session_state.setdefault(TABLE_VERSION, 0)}",
    on_select="rerun",
    selection_mode="single-row",
    hide_index=True,
    placeholder=MISSING,
    column_order=["comment", "active", "start", "end", "exclusions", "connections", "last_training",
                  "latest_status", "runs"],
    column_config={
        "comment": st.column_config.TextColumn("Comment", width=170),
        "active": st.column_config.TextColumn("Active", help="The dataset inference runs on", width=70),
        "start": st.column_config.DatetimeColumn("Start (UTC)", format="YYYY-MM-DD HH:mm", width=118),
        "end": st.column_config.DatetimeColumn("End (UTC)", format="YYYY-MM-DD HH:mm", width=118),
        "exclusions": st.column_config.NumberColumn("Exclusions", help="Excluded periods", width=80),
        "connections": st.column_config.NumberColumn("Connections", format="localized", width=90,
                                                     help="Connections in the range minus the exclusions"),
        "last_training": st.column_config.DatetimeColumn("Last training", format="distance", width=118,
                                                         help="The latest successful training"),
        "latest_status": st.column_config.TextColumn("Latest status", width=90),
        "runs": st.column_config.NumberColumn("Runs", help="Trainings in the history", width=50),
    },
)
st.caption("Select a row to open that dataset.")
if not selection.selection.rows or selection.selection.rows[0] >= len(datasets):
    st.stop()

dataset: Dataset = datasets[selection.selection.rows[0]]
name = dataset.comment or "(no comment)"
latest = dataset.latest_result
latest_status = getattr(latest.status, "value", latest.status) if latest else None
time_range = dataset.time_range_settings



def duplicate() -> None:
    copy = Dataset(time_range_settings=time_range, comment=f"{name} (copy)")
    with session.api_call("duplicate the dataset") as outcome:
        new_id = client.create_dataset(copy)
    if outcome.ok:
        session.notify(f"Duplicated as “{copy.comment}”.")
        session.open_dataset(new_id)


def delete() -> bool:
    deleted = session.perform("delete the dataset", lambda: client.delete_dataset(dataset.id),
                              f"Deleted “{name}”.")
    if deleted:
        forget_selection()
    return deleted


def activate() -> bool:
    return session.perform("activate the dataset", lambda: client.start_analyzing(dataset.id),
                           f"“{name}” is now the active dataset: new connections are analyzed with its "
                           "model.")


def deactivate() -> bool:
    return session.perform("deactivate the dataset", client.stop_analyzing,
                           "Analyzing stopped: no dataset is active.")


with st.container(border=True):
    with st.container(horizontal=True, vertical_alignment="center"):
        st.subheader(name, width="content")
        if dataset.is_active:
            st.badge("active", icon=":material/bolt:", color="green")
        status_badge(latest_status)
    start_text = describe_time(time_range.start) if time_range.start else "the first connection"
    end_text = describe_time(time_range.end) if time_range.end else "the latest connection"
    st.caption(f"From {start_text} to {end_text}, {counted(len(time_range.exclude), 'excluded period')}, "
               f"{counts.get(dataset.id, 0):,} connections · id `{dataset.id}`")

    with st.container(horizontal=True):
        if st.button("Open", key="datasets.open", type="primary", icon=":material/edit_calendar:"):
            session.open_dataset(dataset.id)
        if st.button("Training review", key="datasets.training", icon=":material/monitoring:"):
            session.open_dataset(dataset.id, session.TRAINING_PAGE)
        if st.button("Duplicate", key="datasets.duplicate", icon=":material/content_copy:"):
            duplicate()
        if dataset.is_active:
            confirm_button(
                "Deactivate", key="datasets.deactivate", icon=":material/pause_circle:",
                title="Stop analyzing?",
                message=f"“{name}” is the active dataset. Deactivating it **stops analyzing new "
                        "connections**: no anomalies are flagged until a dataset is activated again.",
                confirm_label="Deactivate", on_confirm=deactivate)
        else:
            trained = any(result.status == TrainingStatus.SUCCESS for result in dataset.training_results)
            confirm_button(
                "Activate", key="datasets.activate", icon=":material/play_circle:", disabled=not trained,
                help=None if trained else "Only a dataset with a successful training can be activated.",
                title="Start analyzing with this dataset?",
                message=f"New connections will be analyzed with the model of “{name}”, replacing the "
                        "active dataset's model, if any.",
                confirm_label="Activate", on_confirm=activate)
        confirm_button(
            "Delete", key="datasets.delete", icon=":material/delete:", disabled=dataset.is_active,
            help="The active dataset cannot be deleted: deactivate it first." if dataset.is_active else None,
            title="Delete this dataset?",
            message=f"“{name}”, its training history ({counted(len(dataset.training_results), 'run')}) "
                    "and its model weights will be deleted. This cannot be undone.",
            confirm_label="Delete", on_confirm=delete)
    if dataset.is_active:
        st.caption("The active dataset cannot be deleted or changed: deactivate it first.")
