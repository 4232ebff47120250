"""Training review (?dataset=<id>): train a dataset, follow the run, and judge the model it gave.

What it fetches: the shared list of datasets (ui/listing.py) for the picker, then ONE `GET /datasets/{id}`
(no logs, the chart's bin count) per run of the page, or per poll while a run trains. Everything about
the dataset is drawn from that one answer, so the progress header, the history and the run under review
show the same epochs and losses at every poll. The threshold explorer's finest histogram and a run's log
are fetched when needed, and kept once the run has ended.
"""

from __future__ import annotations

from contextlib import suppress

import streamlit as st

import ui.bootstrap  # noqa: F401  (first: the legacy pages/ folder workaround)
from ueba_api import charts, frames, quality, review
from ueba_api.client import UebaClient
from ueba_api.errors import ConflictError, UebaError
from ueba_api.models import Dataset, TrainingResult, TrainingStatus
from ueba_api.report import quality_report
from ui import calls, feedback, listing, navigation, widgets
from ui.text import plain

POLL_SECONDS = 2
BINS_KEY = "training.bins"
# The dataset the page run fetched, handed to the fragment that draws it (its own reruns fetch again).
_FETCHED = "training.fetched"
# (dataset id, run creation time) -> the server's id of that run, as /status/internal gave it.
_SERVER_RUN_IDS = "training.server_run_ids"
ALREADY_RUNNING = "A training is already running for this dataset: wait for it to end, then train again."

LOSS_FORMAT = "%.5g"
HISTORY_COLUMNS = {
    # q99 and q999 come fourth and fifth; narrow columns before them keep them in sight at any width.
    "run": st.column_config.NumberColumn("Run", help="1 = the oldest training of this dataset",
                                         width="small"),
    "created (UTC)": st.column_config.DatetimeColumn("Created (UTC)", format="YYYY-MM-DD HH:mm:ss"),
    "status": st.column_config.TextColumn("Status", width="small"),
    "feature_config_name": st.column_config.TextColumn("Feature config"),
    "num_connections": st.column_config.NumberColumn("Connections", format="localized"),
    "epochs": st.column_config.NumberColumn("Epochs"),
    "final_training_loss": st.column_config.NumberColumn(
        "Final training loss", format=LOSS_FORMAT,
        help="Mean loss over the last epoch's mini-batches (training split)"),
    "final_validation_loss": st.column_config.NumberColumn(
        "Final validation loss", format=LOSS_FORMAT,
        help="Loss on the validation split after the last epoch"),
    "mean": st.column_config.NumberColumn(
        "Mean", format=LOSS_FORMAT, help="Mean of the per-connection validation loss"),
    "std": st.column_config.NumberColumn(
        "Std", format=LOSS_FORMAT, help="Standard deviation of the per-connection validation loss"),
    "quantile_99": st.column_config.NumberColumn(
        "q99", format=LOSS_FORMAT, help="99th percentile of the per-connection validation loss",
        width="small"),
    "quantile_999": st.column_config.NumberColumn(
        "q999", format=LOSS_FORMAT, help="99.9th percentile of the per-connection validation loss",
        width="small"),
    "error_code": st.column_config.TextColumn("Error code"),
    "error_details": st.column_config.TextColumn("Error details", width="large"),
}




def pick_dataset(client: UebaClient) -> str:
    """The dataset of `?dataset=`, or the one picked here (which then goes into the URL).

    Without `?dataset=` the picker starts on `review.default_dataset_id`: the active dataset, else the one
    trained last, else the newest.
    """
    wanted = navigation.dataset_id_from_query()
    with calls.api_call("load the datasets") as outcome:
        datasets = listing.datasets(client)
        if wanted and wanted not in {dataset.id for dataset in datasets}:
            listing.forget_listing()  # made since the list was cached (elsewhere, or by another client)?
            datasets = listing.datasets(client)
    if not outcome.ok:
        st.stop()
    if not datasets:
        st.info("There are no datasets yet: create one first.", icon=":material/info:")
        st.page_link(navigation.DATASETS_PAGE, label="Open the datasets", icon=":material/table:")
        st.stop()
    labels = {dataset.id: review.dataset_choice_label(dataset) for dataset in datasets}
    if wanted and wanted not in labels:
        st.error(plain(f"There is no dataset with the id {wanted!r}. Pick one below."),
                 icon=":material/error:")
    ids = list(labels)
    if wanted in labels:
        start = wanted
    elif wanted:
        start = None  # an unknown id: said above, and the user picks
    else:
        start = review.default_dataset_id(datasets)
    chosen = st.selectbox(
        "Dataset",
        ids,
        index=ids.index(start) if start in labels else None,
        format_func=labels.__getitem__,
        placeholder="Choose a dataset to train and review…",
    )
    if chosen is None:
        st.stop()
    if chosen != wanted:
        navigation.set_dataset_in_url(chosen)
    return chosen


def dataset_summary(dataset: Dataset) -> None:
    time_range = dataset.time_range_settings
    excluded = len(time_range.exclude)
    with st.container(horizontal=True, vertical_alignment="center"):
        widgets.dataset_badges(dataset)
        st.caption(
            f"Training range {review.utc_minutes(time_range.start)} → {review.utc_minutes(time_range.end)}, "
            f"{excluded} excluded period{'s' if excluded != 1 else ''}"
            f" · last successful training {review.utc_minutes(dataset.last_training)}"
        )
        st.page_link(navigation.EDITOR_PAGE, label="Edit the dataset", icon=":material/edit_calendar:",
                     query_params={navigation.DATASET_QUERY_PARAM: dataset.id})


def start_training(client: UebaClient, dataset: Dataset, activate: bool) -> bool:
    """The dialog's action: start the training; a failure is shown in the dialog, which stays open."""
    try:
        count = client.train_dataset(dataset.id, set_active_after_training=activate)
    except ConflictError:
        st.error(ALREADY_RUNNING, icon=":material/hourglass_top:")
        return False
    except UebaError as error:
        calls.show_error(error, "start the training")
        return False
    listing.forget_listing()  # the dataset now trains: the Datasets page polls while one does
    # Announce the end of the new run, even if it ends before the page sees it training.
    navigation.watch_run(dataset.id, len(dataset.training_results) + 1)
    feedback.notify(f"Training started on {count:,} connections.", icon=":material/model_training:")
    return True


def train_controls(client: UebaClient, dataset: Dataset) -> None:
    running = review.is_training(dataset)
    with st.container(horizontal=True, vertical_alignment="center"):
        activate = st.toggle(
            "Activate the model when the training succeeds",
            key=f"training.activate.{dataset.id}",
            help="set_active_after_training: a successful training makes this dataset the one PrivX "
                 "uses for inference. Otherwise the active model does not change.",
        )
        outcome = ("When it succeeds, **this model becomes the active one**: PrivX flags connections with it."
                   if activate else "The active model does not change.")
        time_range = dataset.time_range_settings
        widgets.confirm_button(
            "Train",
            key=f"training.train.{dataset.id}",
            title="Train this dataset?",
            message=(
                f"PrivX trains a new model on the connections from {review.utc_minutes(time_range.start)} "
                f"to {review.utc_minutes(time_range.end)}, minus the excluded periods. {outcome}"
                + widgets.too_small_warning(calls.known_count(client, time_range))
            ),
            confirm_label="Start training",
            on_confirm=lambda: start_training(client, dataset, activate),
            type="primary",
            icon=":material/model_training:",
            disabled=running or not calls.can_manage(client),
            help=("A training is running; it can be started again once it ends." if running
                  else None if calls.can_manage(client) else calls.VIEW_ONLY_HELP),
        )


def progress_panel(run: frames.Run, server_id: str | None) -> None:
    """The running training: epochs done and the loss curve so far, from the page's one fetch."""
    epochs = frames.epochs_done(run.result)
    connections = f" on {run.result.num_connections:,} connections" if run.result.num_connections else ""
    # Written into directly, not used as a context manager: leaving the `with` block would mark the
    # panel "complete" (a green check) while the run is still training.
    panel = st.status(f"Training {run_name(run, server_id)}{connections}: {epochs} epochs done",
                      state="running", expanded=True)
    panel.caption(f"Started {review.utc_minutes(run.result.created)}; refreshed every {POLL_SECONDS} s.")
    if epochs:
        panel.altair_chart(charts.loss_curves(frames.loss_frame(review.numbered([run]))),
                           key="training.progress_chart")
    else:
        panel.caption("Waiting for the first epoch…")


def run_name(run: frames.Run, server_id: str | None) -> str:
    """"#2", with the server's own id of the run where known ("#2 (server run 17)"): the server's log
    names runs by that id."""
    return f"#{run.number}" + (f" (server run {server_id})" if server_id else "")


def load_dataset(client: UebaClient, dataset_id: str) -> Dataset | None:
    """The page's one fetch of the dataset: every run's losses, the chart's histogram, no logs."""
    with calls.api_call("load the dataset") as loaded:
        bins = widgets.asked_bin_count(BINS_KEY)  # read here: the call runs in another thread
        dataset = calls.wait_for("load the dataset",
                                 lambda: client.get_dataset(dataset_id, logs=False, bin_count=bins), client)
    return dataset if loaded.ok else None


def dataset_view(client: UebaClient, dataset_id: str, polling: bool) -> None:
    """Everything about the dataset but the train controls: a fragment, polled while a run trains.

    The page run hands over the dataset it fetched; the fragment's own reruns (polls, its widgets) fetch
    it again. When a polled run has ended, the whole page runs again to show its outcome.
    """
    dataset = st.session_state.pop(_FETCHED, None)
    if dataset is None or dataset.id != dataset_id:
        dataset = load_dataset(client, dataset_id)
        if dataset is None:
            return
    if polling and not review.is_training(dataset):
        listing.forget_listing()  # its badges and runs changed
        st.rerun(scope="app")
    runs = frames.training_runs(dataset)
    follow = navigation.follow_trainings(dataset)
    reviewed = reviewed_index(dataset, runs, follow.ended)
    server_id = server_run_id(client, dataset, ask=bool(follow.training))
    for run in follow.training:
        progress_panel(run, server_id)
    latest = dataset.latest_result
    if reviewed != len(runs) - 1:  # the run under review says its own failure
        latest_failure(latest)
    history_section(dataset)
    if runs:
        st.subheader("Review a run")
        review_section(client, dataset, runs, server_id)


def server_run_id(client: UebaClient, dataset: Dataset, *, ask: bool) -> str | None:
    """The server's id of the dataset's latest run, or None if it cannot say.

    Asked of `/status/internal` while the run trains (`ask`), and remembered for the session: that list
    holds every dataset's latest run, too long to fetch on every run of the page.
    """
    latest = dataset.latest_result
    if latest is None or latest.created is None:
        return None
    known = st.session_state.setdefault(_SERVER_RUN_IDS, {})
    run_key = (dataset.id, latest.created.isoformat())
    if ask and run_key not in known:
        with suppress(UebaError):
            known[run_key] = review.server_run_id(client.get_internal_status(), latest)
    return known.get(run_key)


def reviewed_index(dataset: Dataset, runs: list[frames.Run], ended: list[frames.Run]) -> int | None:
    """The run under review (an index into `runs`), kept in the "Run to review" picker's state: a run
    that just ended, else the one picked before, else `review.default_review_index`."""
    key = _review_key(dataset)
    for run in ended:
        st.session_state[key] = run.number - 1  # review the run that just ended
    chosen = st.session_state.get(key)
    if chosen is None or not 0 <= chosen < len(runs):
        st.session_state[key] = review.default_review_index([run.result for run in runs])
    return st.session_state[key]


def _review_key(dataset: Dataset) -> str:
    return f"training.run.{dataset.id}"


def latest_failure(result: TrainingResult | None) -> None:
    if result is not None and result.status == TrainingStatus.FAILURE:
        st.error(
            f"The latest training failed.  \n**Error code:** {result.error_code or 'none given'}  \n"
            f"**Error details:** {result.error_details or 'none given'}",
            icon=":material/error:",
        )


def history_section(dataset: Dataset) -> None:
    st.subheader("Training history")
    table = review.history_table(frames.training_history(dataset))
    if table.empty:
        st.caption("This dataset has not been trained yet.")
        return
    st.dataframe(table, hide_index=True, column_config=HISTORY_COLUMNS, key="training.history",
                 placeholder=review.MISSING)
    name = f"training-history-{dataset.id}"
    with st.container(horizontal=True):
        st.download_button("Download CSV", review.history_csv(table), f"{name}.csv", "text/csv",
                           icon=":material/download:", on_click="ignore")
        st.download_button("Download JSON", review.history_json(table), f"{name}.json", "application/json",
                           icon=":material/download:", on_click="ignore")
        # The model-quality report of the run the review opens on; made only when clicked (a count, /status).
        reporting = calls.get_client()
        st.download_button("Download the quality report",
                           lambda: quality_report(reporting, dataset.id, dataset=dataset),
                           f"quality-report-{dataset.id}.html", "text/html", icon=":material/description:",
                           on_click="ignore", help="One HTML file that opens offline: the latest successful "
                           "run's definition, statistics, charts, quality hints and thresholds")


def statistics(run: frames.Run, server_id: str | None) -> None:
    """What the run is, then the statistics of its per-connection validation loss."""
    result = run.result
    connections = f"{result.num_connections:,}" if result.num_connections is not None else review.MISSING
    feature_config = result.feature_config_name or review.MISSING
    st.caption(f"Run {run_name(run, server_id)} · feature config {feature_config} · "
               f"created {review.utc_minutes(result.created)} · {connections} connections · "
               f"{frames.epochs_done(result)} epochs")
    numbers = [
        ("mean", result.mean, "Mean of the per-connection validation loss"),
        ("std", result.std, "Standard deviation of the per-connection validation loss"),
        ("q99", result.quantile_99, "99% of the validation connections have a lower loss"),
        ("q999", result.quantile_999, "99.9% of the validation connections have a lower loss"),
    ]
    for column, (label, value, meaning) in zip(st.columns(len(numbers)), numbers, strict=True):
        shown = review.MISSING if value is None else f"{value:.5g}"
        column.metric(f"Validation loss {label}", shown, help=meaning, border=True)


def quality_section(result: TrainingResult) -> None:
    hints = quality.quality_hints(result)
    widgets.quality_hint_list(hints)
    if not hints:
        st.success("No quality problem found: the losses converged without overfitting, the dataset is large "
                   "enough and the validation loss has no heavy tail.", icon=":material/check_circle:")


def loss_section(run: frames.Run, runs: list[frames.Run], dataset_id: str) -> None:
    st.subheader("Loss per epoch")
    controls, chart = st.columns([1, 2], gap="large")
    with controls:
        # Runs of one dataset go by number: a chip shows "#2" whole, where a long label would be cut.
        others = [other.number for other in runs if other.number != run.number]
        overlaid = st.multiselect("Overlay other runs", others, key=f"training.overlay.{dataset_id}",
                                  format_func=lambda number: f"#{number}",
                                  placeholder="Runs of this dataset to compare with")
        log_scale = st.toggle("Log scale", key="training.loss_log")
        smoothing = st.slider("Smoothing", 0.0, 0.99, 0.0, 0.01, key="training.smoothing",
                              help="Debiased exponential moving average, as TensorBoard: 0 shows the raw "
                                   "losses; with more, the raw curves stay faint beneath.")
    losses = frames.loss_frame(review.numbered(
        [run, *(other for other in runs if other.number in overlaid)]))
    if losses.empty:
        chart.caption("This run has no losses to draw.")
        return
    chart.altair_chart(charts.loss_curves(losses, log_scale=log_scale, smoothing=smoothing),
                       key="training.loss_chart")


def histogram_section(client: UebaClient, dataset: Dataset, run: frames.Run) -> None:
    st.subheader("Validation loss per connection")
    controls, chart = st.columns([1, 2], gap="large")
    with controls:
        widgets.bin_count_input(st, key=BINS_KEY,
                                help="Fetches the histogram again from the server with this bin_count")
        log_scale = st.toggle("Log-scale counts", key="training.histogram_log",
                              help="A symmetric-log axis: the few connections in the tail stay visible")
    result = run.result
    try:
        bins = frames.histogram_frame(result)
    except ValueError as error:
        chart.error(f"The server's histogram cannot be drawn: {error}", icon=":material/error:")
        return
    if bins.empty or bins["count"].sum() <= 0:
        chart.caption("This run has no validation histogram.")
        return
    with controls:
        threshold = threshold_explorer(client, dataset, run)
    chart.altair_chart(charts.validation_histogram(result, log_scale=log_scale, threshold=threshold),
                       key="training.histogram_chart")


def threshold_explorer(client: UebaClient, dataset: Dataset, run: frames.Run) -> float | None:
    """Pick a loss threshold, or the share of connections to flag, and read the other.

    Read from the finest histogram the API gives, whatever the chart shows, so the answer does not
    depend on the chart's bin count."""
    result = run.result
    with calls.api_call("load the finest histogram") as loaded:
        finest = listing.finest_histogram(client, dataset, run.number)
    if not loaded.ok:
        return None
    try:
        usable = finest is not None and frames.histogram_frame(finest)["count"].sum() > 0
    except ValueError as error:
        st.error(plain(f"The server's finest histogram cannot be read: {error}"), icon=":material/error:")
        return None
    if not usable:
        st.caption("The server gave no histogram to read thresholds from.")
        return None
    key = f"training.threshold.{result.dataset_id or ''}.{run.label}"
    mode = st.segmented_control("Explore by", ["Loss threshold", "Share above"], default="Loss threshold",
                                required=True, key=f"{key}.mode")
    if mode == "Loss threshold":
        threshold = st.number_input("Threshold (validation loss)", min_value=0.0,
                                    value=float(review.default_threshold(result, finest)), format="%.6f",
                                    key=f"{key}.loss")
        reading = review.reading_at_threshold(finest, threshold)
    else:
        percent = st.number_input("Share of validation connections above the threshold (%)", min_value=0.0,
                                  max_value=100.0, value=review.DEFAULT_SHARE_ABOVE * 100, step=0.1,
                                  format="%.2f", key=f"{key}.share",
                                  help="The quantile's complement: 1% above is the 99th percentile (q99), "
                                       "0.1% the 99.9th (q999)")
        reading = review.reading_at_share(finest, percent / 100)
    st.markdown(reading.sentence())
    st.caption(reading.precision_note())
    return reading.threshold


def log_section(client: UebaClient, dataset: Dataset, run: frames.Run) -> None:
    # Tracked (on_change), so the log is fetched only while the expander is open.
    expander = st.expander("Training log", key=f"training.log.{dataset.id}.{run.number}", on_change="rerun")
    if not expander.open:
        return
    with expander:
        with calls.api_call("load the training log") as loaded:
            log = listing.run_log(client, dataset, run.number)
        if not loaded.ok:
            return
        if not log:
            st.caption("The server sent no log for this run.")
            return
        # Wrapped: the first line (the run's sizes and settings) is long, and would hide behind a scroll.
        st.code(log, language=None, wrap_lines=True)
        name = f"training-log-{dataset.id}-{run.number}.txt"
        st.download_button("Download the log", log, name, "text/plain", icon=":material/download:",
                           on_click="ignore")


def review_section(client: UebaClient, dataset: Dataset, runs: list[frames.Run],
                   server_id: str | None) -> None:
    latest = len(runs) - 1
    # Its value is in session state already (`reviewed_index`): no index here, or Streamlit warns.
    index = st.selectbox("Run to review", range(len(runs)), key=_review_key(dataset),
                         format_func=lambda i: review.run_choice_label(review.numbered([runs[i]])[0]))
    run = runs[index]
    statistics(run, server_id if index == latest else None)
    quality_section(run.result)
    if run.result.status == TrainingStatus.TRAINING:
        st.caption("The numbers below are not final: the run is still training.")
    loss_section(run, runs, dataset.id)
    histogram_section(client, dataset, run)
    log_section(client, dataset, run)


st.title("Training review")
feedback.show_notices()
client = calls.get_client()
dataset_id = pick_dataset(client)
dataset = load_dataset(client, dataset_id)
if dataset is None:
    st.stop()
dataset_summary(dataset)
train_controls(client, dataset)
st.session_state[_FETCHED] = dataset
polling = review.is_training(dataset)
st.fragment(run_every=POLL_SECONDS if polling else None)(dataset_view)(client, dataset_id, polling)
