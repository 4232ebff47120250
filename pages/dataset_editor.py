"""Dataset editor (?dataset=<id>, or a new dataset): training range, excluded periods, size and coverage."""

from datetime import UTC, datetime, timedelta

import streamlit as st

import ui.bootstrap  # noqa: F401  (first: the legacy pages/ folder workaround)
from ueba_api.charts import coverage_timeline
from ueba_api.errors import NotFoundError, UebaError
from ueba_api.limits import MAX_COMMENT_LENGTH, MIN_TRAINING_CONNECTIONS
from ueba_api.models import Dataset, TimeRange, as_utc
from ueba_api.periods import (
    ProblemKind,
    blocking_problems,
    can_merge,
    check_periods,
    check_range,
    describe_time,
    merge_overlapping,
    periods_from_frame,
    usable_periods,
)
from ui import calls, feedback, navigation
from ui.widgets import PeriodsEditor, confirm_button, counted, dataset_badges

PRESET_DAYS = {"Last 30 days": 30, "Last 90 days": 90, "Last 180 days": 180}
NEW_DATASET_DAYS = 90

client = calls.get_client()
dataset_id = navigation.dataset_id_from_query()
dataset = None
if dataset_id:
    with calls.api_call("load the dataset"):
        try:
            dataset = client.get_dataset(dataset_id)
        except NotFoundError:
            st.error(f"Dataset not found: there is no dataset with id `{dataset_id}`. "
                     "It may have been deleted.", icon=":material/search_off:")
    if dataset is None:
        st.page_link(navigation.DATASETS_PAGE, label="Back to the datasets", icon=":material/arrow_back:")
        st.stop()

# Widget keys per dataset, so that opening another dataset never shows this one's draft.
prefix = f"editor.{dataset_id or 'new'}"
start_key, end_key, comment_key, auto_key = (f"{prefix}.{name}" for name in ("start", "end", "comment",
                                                                              "auto"))
preset_error_key = f"{prefix}.preset_error"
periods_editor = PeriodsEditor(f"{prefix}.periods")


def tomorrow_midnight() -> datetime:
    """The end of today, UTC (naive: what the pickers hold)."""
    today = datetime.now(UTC).replace(tzinfo=None, hour=0, minute=0, second=0, microsecond=0)
    return today + timedelta(days=1)


def naive_utc(value: datetime | None) -> datetime | None:
    """What st.datetime_input takes: a naive datetime, meaning UTC."""
    return as_utc(value).replace(tzinfo=None) if value else None


def load_draft() -> None:
    """Fill the widgets from the server's dataset, or with a new dataset's defaults."""
    if dataset is None:
        end = tomorrow_midnight()
        st.session_state.update({start_key: end - timedelta(days=NEW_DATASET_DAYS), end_key: end,
                                 comment_key: "", auto_key: False})
        periods_editor.replace([])
        return
    time_range = dataset.time_range_settings
    st.session_state.update({
        start_key: naive_utc(time_range.start), end_key: naive_utc(time_range.end),
        comment_key: dataset.comment or "", auto_key: dataset.use_for_inference_once_trained,
    })
    periods_editor.replace(time_range.exclude)


def apply_preset(days: int) -> None:
    end = tomorrow_midnight()
    st.session_state[start_key] = end - timedelta(days=days)
    st.session_state[end_key] = end


def apply_all_data() -> None:
    """A callback (it sets the pickers before they are drawn), so failures are shown by the page."""
    try:
        span = calls.history_span(client)
    except UebaError as error:
        st.session_state[preset_error_key] = error
        return
    if span is None:
        feedback.notify("The server has no connections yet: the range is unchanged.", icon=":material/info:")
    else:
        st.session_state[start_key], st.session_state[end_key] = (naive_utc(bound) for bound in span)


# A key missing means the page was just opened (Streamlit forgets a page's widgets when it is left).
if start_key not in st.session_state:
    load_draft()

# Header
if dataset is None:
    st.title("New dataset")
else:
    st.title(dataset.comment or "Dataset")
    runs = len(dataset.training_results)
    with st.container(horizontal=True, vertical_alignment="center"):
        dataset_badges(dataset)
        st.caption(f"{counted(runs, 'training run')} · id `{dataset.id}`")
        st.page_link(navigation.TRAINING_PAGE, label="Training review", icon=":material/monitoring:",
                     query_params={navigation.DATASET_QUERY_PARAM: dataset.id})
st.page_link(navigation.DATASETS_PAGE, label="All datasets", icon=":material/arrow_back:")

# Training range
st.subheader("Training range")
with st.container(horizontal=True):
    for label, days in PRESET_DAYS.items():
        st.button(label, key=f"{prefix}.preset.{days}", on_click=apply_preset, args=(days,))
    st.button("All data", key=f"{prefix}.preset.all", on_click=apply_all_data,
              help="From the first day with connections to the end of today (UTC)")
if preset_error_key in st.session_state:
    calls.show_error(st.session_state.pop(preset_error_key), "find the first and last connection")
start_column, end_column = st.columns(2)
start = start_column.datetime_input("Start (UTC)", key=start_key, format="YYYY-MM-DD", step=3600,
                                    help="Inclusive. Empty: from the first connection on.")
end = end_column.datetime_input("End (UTC)", key=end_key, format="YYYY-MM-DD", step=3600,
                                help="Exclusive. Empty: up to the latest connection.")
range_problems = check_range(start, end)
for problem in range_problems:
    st.error(problem.message, icon=":material/event_busy:")

periods_column, size_column = st.columns([3, 2], gap="large")
with periods_column:
    st.subheader("Excluded periods")
    st.caption("Periods left out of the training data, such as an incident or a migration. Times are UTC. "
               "Add a row with the **+** at the table's top right; delete one by selecting it.")
    edited = periods_editor.show()
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
        st.button("Merge overlapping periods", key=f"{prefix}.merge", icon=":material/join:",
                  on_click=periods_editor.replace, args=(merge_overlapping(usable),), disabled=not mergeable,
                  help=None if mergeable else "Complete or delete the periods marked in red first: a merge "
                                              "keeps only complete periods, so it would drop them.")

with size_column:
    st.subheader("Training data")
    if range_problems:
        st.caption("Fix the range to see how many connections it holds.")
    else:
        with calls.api_call("count the connections"):
            count = calls.count_connections(client, TimeRange(start=start, end=end, exclude=usable))
            in_range = calls.count_connections(client, TimeRange(start=start, end=end))
            st.metric("Connections for training", f"{count:,}", delta=f"-{in_range - count:,} excluded",
                      delta_color="off", delta_arrow="off",
                      help="Connections in the range minus the excluded periods (query-connection-count)")
            st.caption(f"{in_range:,} connections in the range.")
            if count < MIN_TRAINING_CONNECTIONS:
                st.warning(f"Only {count:,} connections: a training needs at least "
                           f"{MIN_TRAINING_CONNECTIONS:,}. Widen the range or exclude less.",
                           icon=":material/warning:")

if not range_problems and start and end:
    st.subheader("Connections per day")
    with calls.api_call("count the connections per day"):
        daily = calls.connections_per_day(client, start, end)
        st.altair_chart(coverage_timeline(daily, usable, as_utc(start), as_utc(end)), width="stretch")
        st.caption(f"From {describe_time(start)} to {describe_time(end)}; excluded periods shaded.")

# Description and saving
st.subheader("Description")
st.text_area("Comment", key=comment_key, max_chars=MAX_COMMENT_LENGTH, placeholder="What this dataset is for")
st.checkbox("Use for inference once trained", key=auto_key,
            help="When a training of this dataset succeeds, make it the active dataset")

draft = Dataset(time_range_settings=TimeRange(start=start, end=end, exclude=periods),
                comment=st.session_state[comment_key].strip() or None,
                use_for_inference_once_trained=st.session_state[auto_key])


def create() -> bool:
    with calls.api_call("save the dataset") as call:
        new_id = client.create_dataset(draft)
    if call.ok:
        feedback.notify("Dataset created.")
        navigation.set_dataset_in_url(new_id)
    return call.ok


def update() -> bool:
    return calls.perform("save the dataset", lambda: client.update_dataset(dataset.id, draft),
                           "Dataset saved." + (" Its training history was cleared." if trained else ""))


def refused() -> bool:
    """Whether the draft cannot be saved; if so, says why, naming each period or bound at fault."""
    if blocking:
        st.error("Not saved. " + " ".join(problem.message for problem in blocking), icon=":material/block:")
    return bool(blocking)


trained = dataset is not None and bool(dataset.training_results or dataset.last_training)
active = dataset is not None and dataset.is_active
if active:
    st.info("This dataset is active (used for inference), so it cannot be changed. "
            "Deactivate it on the Datasets page first.", icon=":material/lock:")
save_options = {"key": f"{prefix}.save", "type": "primary", "icon": ":material/save:", "disabled": active}
if trained and not blocking:
    runs = len(dataset.training_results)
    confirm_button(
        "Save changes", title="Delete the training history?",
        message=f"This dataset has been trained ({counted(runs, 'run')}). Saving changes "
                "**deletes its training history and its trained model weights**; you will have to train it "
                "again before it can be used.",
        confirm_label="Save and delete history", on_confirm=update, **save_options)
else:
    clicked = st.button("Create dataset" if dataset is None else "Save changes", **save_options)
    if clicked and not refused() and (create() if dataset is None else update()):
        st.rerun()
