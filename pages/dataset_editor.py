"""Dataset editor (?dataset=<id>, or a new dataset): training range, excluded periods, size and coverage.

The page lays out the widgets; what a save would do is `ueba_api.saving.save_plan`'s answer.
"""

from datetime import datetime
from typing import NoReturn

import streamlit as st

import ui.bootstrap  # noqa: F401  (first: the legacy pages/ folder workaround)
from ueba_api import saving
from ueba_api.charts import coverage_timeline
from ueba_api.client import UebaClient
from ueba_api.errors import NotFoundError, PreconditionFailedError, UebaError
from ueba_api.limits import MAX_COMMENT_LENGTH, MIN_TRAINING_CONNECTIONS
from ueba_api.models import Dataset, TimeRange, as_utc
from ueba_api.periods import (
    DAY_RULE,
    ProblemKind,
    blocking_problems,
    can_merge,
    check_periods,
    check_range,
    describe_time,
    last_whole_days,
    merge_overlapping,
    periods_from_frame,
    usable_periods,
)
from ui import calls, feedback, listing, navigation, text
from ui.widgets import PeriodsEditor, close_confirmation, confirm_button, counted, dataset_badges

PRESET_DAYS = {"Last 30 days": 30, "Last 90 days": 90, "Last 180 days": 180}
NEW_DATASET_DAYS = 90


def naive_utc(value: datetime | None) -> datetime | None:
    """What st.datetime_input takes: a naive datetime, meaning UTC."""
    return as_utc(value).replace(tzinfo=None) if value else None


class Draft:
    """The editor's session-state keys for one dataset (or a new one), so that opening another dataset
    never shows this one's draft."""

    def __init__(self, dataset_id: str | None) -> None:
        self.prefix = f"editor.{dataset_id or 'new'}"
        self.start, self.end, self.comment, self.auto, self.opened, self.preset_error, self.created = (
            f"{self.prefix}.{name}" for name in ("start", "end", "comment", "auto", "opened", "preset_error",
                                                 "created"))
        self.periods = PeriodsEditor(f"{self.prefix}.periods")

    def load(self, dataset: Dataset | None) -> None:
        """Fill the widgets from the server's dataset (remembered as opened), or a new dataset's defaults."""
        if dataset is None:
            start, end = last_whole_days(NEW_DATASET_DAYS)
            st.session_state.update({self.start: naive_utc(start), self.end: naive_utc(end), self.comment: "",
                                     self.auto: False})
            self.periods.replace([])
            return
        time_range = dataset.time_range_settings
        st.session_state.update({
            self.start: naive_utc(time_range.start), self.end: naive_utc(time_range.end),
            self.comment: dataset.comment or "", self.auto: dataset.use_for_inference_once_trained,
            self.opened: dataset,
        })
        self.periods.replace(time_range.exclude)

    def set_range(self, start: datetime, end: datetime) -> None:
        st.session_state[self.start], st.session_state[self.end] = naive_utc(start), naive_utc(end)

    def keep_edits(self, current: Dataset) -> None:
        """Go on editing over the server's current version: the next save replaces it."""
        st.session_state[self.opened] = current


def apply_preset(draft: Draft, days: int) -> None:
    draft.set_range(*last_whole_days(days))


def apply_all_data(client: UebaClient, draft: Draft) -> None:
    """A callback (it sets the pickers before they are drawn), so failures are shown by the page."""
    try:
        span = calls.history_span(client)
    except UebaError as error:
        st.session_state[draft.preset_error] = error
        return
    if span is None:
        feedback.notify("The server has no connections yet: the range is unchanged.", icon=":material/info:")
    else:
        draft.set_range(*span)


def header(dataset: Dataset | None) -> None:
    if dataset is None:
        st.title("New dataset")
    else:
        text.comment_heading(dataset.comment, st.title)
        text.full_text(dataset.comment)
        runs = len(dataset.training_results)
        with st.container(horizontal=True, vertical_alignment="center"):
            dataset_badges(dataset)
            st.caption(f"{counted(runs, 'training run')} · id `{dataset.id}`")
            st.page_link(navigation.TRAINING_PAGE, label="Training review", icon=":material/monitoring:",
                         query_params={navigation.DATASET_QUERY_PARAM: dataset.id})
    st.page_link(navigation.DATASETS_PAGE, label="All datasets", icon=":material/arrow_back:")


def training_size(client: UebaClient, start: datetime | None, end: datetime | None, usable: list) -> None:
    st.subheader("Training data")
    with calls.api_call("count the connections"):
        count = calls.count_connections(client, TimeRange(start=start, end=end, exclude=usable))
        in_range = calls.count_connections(client, TimeRange(start=start, end=end))
        excluded = in_range - count
        st.metric("Connections for training", f"{count:,}",
                  delta=f"{excluded:,} excluded" if excluded else "none excluded",
                  delta_color="off", delta_arrow="off",
                  help="Connections in the range minus the excluded periods (query-connection-count)")
        st.caption(f"{in_range:,} connections in the range.")
        if count < MIN_TRAINING_CONNECTIONS:
            st.warning(f"Only {count:,} connections: a training needs at least "
                       f"{MIN_TRAINING_CONNECTIONS:,}. Widen the range or exclude less.",
                       icon=":material/warning:")


def timeline(client: UebaClient, start: datetime, end: datetime, usable: list) -> None:
    """The connections per day. Drawn last (into a slot above), so the count and Save never wait for it."""
    with calls.api_call("count the connections per day"):
        daily = calls.connections_per_day(client, start, end)
        st.altair_chart(coverage_timeline(daily, usable, as_utc(start), as_utc(end)), width="stretch")
        st.caption(f"From {describe_time(start)} to {describe_time(end)}; excluded periods shaded.")


def changed_elsewhere(draft: Draft, current: Dataset | None) -> list[str] | None:
    """What someone changed in the dataset since this editor opened it, or None."""
    opened = st.session_state.get(draft.opened)
    if current is None or opened is None:
        return None
    return saving.changed_since(opened, current)


def conflict_notice(draft: Draft, current: Dataset, changes: list[str]) -> None:
    st.warning("This dataset was changed since you opened it: " + " ".join(changes)
               + " Saving now would overwrite that change.", icon=":material/sync_problem:")
    with st.container(horizontal=True):
        st.button("Load the saved version", key=f"{draft.prefix}.reload", icon=":material/refresh:",
                  on_click=draft.load, args=(current,), help="Your edits here are dropped")
        st.button("Keep my edits", key=f"{draft.prefix}.keep", icon=":material/edit:",
                  on_click=draft.keep_edits, args=(current,),
                  help="Save replaces the saved version with yours")


def create(client: UebaClient, draft: Draft, new: Dataset) -> bool:
    with calls.api_call("save the dataset") as call:
        new_id = client.create_dataset(new)
    if call.ok:
        listing.forget_listing()
        feedback.notify("Dataset created.")
        navigation.set_dataset_in_url(new_id)
        st.session_state[Draft(new_id).created] = True
    return call.ok


def show_conflict() -> NoReturn:
    """Close the save confirmation and run the page again: it shows what changed, and asks what to keep."""
    close_confirmation()
    st.rerun()


def update(client: UebaClient, draft: Draft, dataset: Dataset, new: Dataset, plan: saving.SavePlan) -> bool:
    """Save, unless the dataset changed since the editor opened it: asked again just before saving, and
    the write is conditional on it too, for a server that honours If-Unmodified-Since (others ignore it)."""
    with calls.api_call("save the dataset") as call:
        current = client.get_dataset(dataset.id)
        if changed_elsewhere(draft, current):
            show_conflict()
        try:
            client.update_dataset(dataset.id, new, if_unmodified_since=st.session_state[draft.opened].updated)
        except PreconditionFailedError:
            show_conflict()
    if call.ok:
        listing.forget_listing()  # its runs may be gone, its range and comment changed
        lost = f" Its training history ({counted(plan.runs_lost, 'run')}) was deleted."
        feedback.notify("Dataset saved." + (lost if plan.runs_lost else ""))
        st.session_state[draft.opened] = None  # reloaded on the next run
        st.session_state.pop(draft.start, None)
    return call.ok


def save_controls(client: UebaClient, draft: Draft, dataset: Dataset | None, new: Dataset,
                  plan: saving.SavePlan, may_write: bool) -> None:
    options = {"key": f"{draft.prefix}.save", "type": "primary", "icon": ":material/save:"}
    if not may_write:
        st.button("Save changes", disabled=True, help=calls.VIEW_ONLY_HELP, **options)
    elif plan.kind == saving.PlanKind.NOTHING:
        st.button("Nothing to save", disabled=True, help="No change from the saved dataset.", **options)
    elif plan.kind == saving.PlanKind.SAVE_DELETING_HISTORY:
        confirm_button(
            "Save changes", title="Delete the training history?", message=plan.confirmation(),
            confirm_label=f"Save and delete {counted(plan.runs_lost, 'run')}",
            on_confirm=lambda: update(client, draft, dataset, new, plan), **options)
    else:
        blocked_by_state = plan.kind == saving.PlanKind.BLOCKED and dataset is not None and dataset.is_active
        label = "Create dataset" if dataset is None else "Save changes"
        clicked = st.button(label, disabled=blocked_by_state, **options)
        if not clicked:
            return
        if plan.kind == saving.PlanKind.BLOCKED:
            st.error("Not saved. " + " ".join(plan.reasons), icon=":material/block:")
        elif create(client, draft, new) if dataset is None else update(client, draft, dataset, new, plan):
            st.rerun()


# Set by the Train now button's callback: the button is shown once, right after Create dataset, so the run
# its click starts no longer draws it (and would not see it clicked).
TRAIN_NOW = "editor.train_now"


def train_now(dataset: Dataset) -> None:
    """After Create dataset: the way on to training, where the user is."""
    st.success("Dataset created. Train it to get a model.", icon=":material/check_circle:")
    st.button("Train now", key=f"editor.{dataset.id}.train_now", type="primary",
              icon=":material/model_training:", on_click=st.session_state.__setitem__,
              args=(TRAIN_NOW, dataset.id))


def page() -> None:
    if TRAIN_NOW in st.session_state:
        navigation.open_dataset(st.session_state.pop(TRAIN_NOW), navigation.TRAINING_PAGE)
    client = calls.get_client()
    dataset_id = navigation.dataset_id_from_query()
    dataset = None
    if dataset_id:
        with calls.api_call("load the dataset"):
            try:
                dataset = calls.wait_for("load the dataset", lambda: client.get_dataset(dataset_id), client)
            except NotFoundError:
                st.error(f"Dataset not found: there is no dataset with id {text.code(dataset_id)}. "
                         "It may have been deleted.", icon=":material/search_off:")
        if dataset is None:
            st.page_link(navigation.DATASETS_PAGE, label="Back to the datasets", icon=":material/arrow_back:")
            st.stop()
    draft = Draft(dataset_id)
    # A key missing means the page was just opened (Streamlit forgets a page's widgets when it is left).
    reloaded = dataset is not None and not st.session_state.get(draft.opened)  # after a save
    if draft.start not in st.session_state or reloaded:
        draft.load(dataset)

    header(dataset)
    if dataset is not None and st.session_state.pop(draft.created, False):
        train_now(dataset)

    st.subheader("Training range")
    with st.container(horizontal=True):
        for label, days in PRESET_DAYS.items():
            st.button(label, key=f"{draft.prefix}.preset.{days}", on_click=apply_preset, args=(draft, days),
                      help=f"The {days} whole UTC days before today; today is left out.")
        st.button("All data", key=f"{draft.prefix}.preset.all", on_click=apply_all_data, args=(client, draft),
                  help="From the midnight before the first connection to the midnight after the latest one "
                       "(UTC).")
    st.caption(DAY_RULE)
    if draft.preset_error in st.session_state:
        calls.show_error(st.session_state.pop(draft.preset_error), "find the first and last connection")
    start_column, end_column = st.columns(2)
    start = start_column.datetime_input("Start (UTC)", key=draft.start, format="YYYY-MM-DD", step=3600,
                                        help="Inclusive. Empty: from the first connection on.")
    end = end_column.datetime_input("End (UTC)", key=draft.end, format="YYYY-MM-DD", step=3600,
                                    help="Exclusive. Empty: up to the latest connection.")
    range_problems = check_range(start, end)
    for problem in range_problems:
        st.error(problem.message, icon=":material/event_busy:")

    periods_column, size_column = st.columns([3, 2], gap="large")
    with periods_column:
        st.subheader("Excluded periods")
        st.caption("Periods left out of the training data, such as an incident or a migration. Times are "
                   "UTC. Add a row with the **+** at the table's top right; delete one by selecting it.")
        edited = draft.periods.show()
        periods, _ = periods_from_frame(edited)
        # Usable for counting and shading even while other rows still have problems.
        usable = usable_periods(periods)
        problems = check_periods(start, end, edited)
        blocking = range_problems + blocking_problems(problems)
        for problem in problems:
            if problem.blocking:
                st.error(problem.message, icon=":material/error:")
            else:
                st.warning(problem.message, icon=":material/warning:")
        if any(problem.kind == ProblemKind.OVERLAP for problem in problems):
            mergeable = can_merge(problems)
            unmergeable = ("Complete or delete the periods marked in red first: a merge keeps only complete "
                           "periods, so it would drop them.")
            st.button("Merge overlapping periods", key=f"{draft.prefix}.merge", icon=":material/join:",
                      on_click=draft.periods.replace, args=(merge_overlapping(usable),),
                      disabled=not mergeable, help=None if mergeable else unmergeable)
    with size_column:
        if range_problems:
            st.subheader("Training data")
            st.caption("Fix the range to see how many connections it holds.")
        else:
            training_size(client, start, end, usable)

    timeline_slot = st.container()

    st.subheader("Description")
    st.text_area("Comment", key=draft.comment, max_chars=MAX_COMMENT_LENGTH,
                 placeholder="What this dataset is for (shown as plain text)")
    st.checkbox("Use for inference once trained", key=draft.auto,
                help="When a training of this dataset succeeds, make it the active dataset")

    new = Dataset(time_range_settings=TimeRange(start=start, end=end, exclude=periods),
                  comment=st.session_state[draft.comment].strip() or None,
                  use_for_inference_once_trained=st.session_state[draft.auto])
    plan = saving.save_plan(dataset, new, [problem.message for problem in blocking])
    if dataset is not None and dataset.is_active:
        st.info(saving.ACTIVE_REASON, icon=":material/lock:")
    elsewhere = changed_elsewhere(draft, dataset)
    if elsewhere:
        conflict_notice(draft, dataset, elsewhere)
    elif plan.changes and plan.kind != saving.PlanKind.BLOCKED:
        st.caption("Unsaved changes: " + " ".join(plan.changes))
    if not elsewhere:
        save_controls(client, draft, dataset, new, plan, calls.can_manage(client))

    if not range_problems and start and end:
        with timeline_slot:
            st.subheader("Connections per day")
            timeline(client, start, end, usable)


page()
