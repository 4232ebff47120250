"""Compare runs: any two training runs, of one dataset or of two, side by side and overlaid.

The pickers list runs from the shared list of datasets (ui/listing.py, no series); the two runs picked
come from one `GET /datasets/{id}` each (one if both are of the same dataset), with the chart's bins.
"""

from __future__ import annotations

from dataclasses import replace

import streamlit as st

import ui.bootstrap  # noqa: F401  (first: the legacy pages/ folder workaround)
from ueba_api import charts, frames, quality, review
from ueba_api.client import UebaClient
from ui import calls, feedback, listing, navigation, widgets

BINS_KEY = "compare.bins"
SIDES = ("A", "B")


def run_details(run: frames.Run) -> None:
    """What a run is: its dataset, status, feature config, error, and its quality hints."""
    result = run.result
    created = review.utc_minutes(result.created)
    with st.container(horizontal=True, vertical_alignment="center"):
        widgets.status_badge(result)
        st.caption(f"Created {created} · feature config {result.feature_config_name or review.MISSING} · "
                   f"dataset {run.dataset_id}")
    widgets.quality_hint_list(quality.quality_hints(result))


def fetched(client: UebaClient, runs: list[frames.Run]) -> list[frames.Run]:
    """The runs with their results as the server gives them now (losses, histogram at the chart's bins),
    keeping their labels; one request per dataset. UebaError as the client raises it."""
    datasets = {}
    for run in runs:
        if run.dataset_id not in datasets:
            datasets[run.dataset_id] = client.get_dataset(
                run.dataset_id or "", logs=False, bin_count=widgets.asked_bin_count(BINS_KEY))
    results = []
    for run in runs:
        history = datasets[run.dataset_id].training_results
        if len(history) < run.number:
            raise RunGone(run.label)
        results.append(replace(run, result=history[run.number - 1]))
    return results


class RunGone(Exception):
    """A listed run that the server no longer has (its dataset was changed or deleted since)."""


st.title("Compare runs")
feedback.show_notices()
client = calls.get_client()
with calls.api_call("load the training runs") as loaded:
    runs = frames.training_runs(listing.datasets(client))
if not loaded.ok:
    st.stop()
if len(runs) < 2:
    st.info("Comparing needs at least two training runs; there are "
            f"{len(runs)}. Train a dataset on the Training review page first.", icon=":material/info:")
    st.page_link(navigation.TRAINING_PAGE, label="Open the training review", icon=":material/monitoring:")
    st.stop()

picked = []
defaults = review.default_pair([run.result for run in runs])
columns = st.columns(2, gap="large")
for side, column, default in zip(SIDES, columns, defaults, strict=True):
    with column:
        index = st.selectbox(f"Run {side}", range(len(runs)), index=default, key=f"compare.run.{side}",
                             # Half a 1280 px window has no room for the time: the details below say it.
                             format_func=lambda i: review.run_choice_label(runs[i], created=False))
        picked.append(index)
try:
    with calls.api_call("load the runs picked") as loaded, st.spinner("Loading the two runs…"):
        pair = fetched(client, [runs[index] for index in picked])
except RunGone as gone:
    listing.forget_listing()
    st.warning(f"The server no longer has run {gone}: its dataset was changed or deleted since the list "
               "was loaded. Reload the page for the runs it has now.", icon=":material/info:")
    st.stop()
if not loaded.ok:
    st.stop()
for column, run in zip(columns, pair, strict=True):
    with column:
        run_details(run)
if picked[0] == picked[1]:
    st.warning("Run A and run B are the same run: pick two different runs to compare.",
               icon=":material/info:")
# Charts label the runs by side (as the statistics' columns do), so a shortened legend still tells them apart.
chosen = review.side_labelled(pair, SIDES)

st.subheader("Statistics")
st.caption("Per-connection validation loss statistics are what an anomaly threshold is derived from.")
statistics = review.side_by_side(frames.runs_history(pair), SIDES)
# The styler formats per row (counts and losses share a column); a column format would override it.
st.dataframe(
    review.styled_side_by_side(statistics, SIDES),
    key="compare.statistics",
    placeholder=review.MISSING,
    column_config={
        "_index": st.column_config.TextColumn("Statistic"),
        review.relative_column(SIDES): st.column_config.NumberColumn(help="(B / A − 1) × 100"),
    },
)

# Controls beside each chart, as on the training review page.
st.subheader("Loss per epoch")
controls, chart = st.columns([1, 3], gap="large")
with controls:
    log_scale = st.toggle("Log scale", key="compare.loss_log")
    smoothing = st.slider("Smoothing", 0.0, 0.99, 0.0, 0.01, key="compare.smoothing",
                          help="Debiased exponential moving average, as TensorBoard")
loss_frame = frames.loss_frame(chosen)
if loss_frame.empty:
    chart.caption("Neither run has losses to draw.")
else:
    chart.altair_chart(charts.loss_curves(loss_frame, log_scale=log_scale, smoothing=smoothing),
                       key="compare.loss_chart")

st.subheader("Validation loss per connection")
controls, chart = st.columns([1, 3], gap="large")
widgets.bin_count_input(controls, key=BINS_KEY,
                        help="Fetches the histograms again from the server with this bin_count")
controls.caption("Each bar is a share of its run's validation connections, so runs of different sizes "
                 "compare on one scale; the dashed rules mark each run's q99.")
try:
    chart.altair_chart(charts.histogram_overlay(chosen), key="compare.histogram_chart")
except ValueError as error:
    chart.error(f"The server's histograms cannot be drawn: {error}", icon=":material/error:")
