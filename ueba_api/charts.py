"""Altair charts of training results and dataset coverage.

Each chart carries its data inline, so `chart.to_dict()` holds the very numbers the API returned
(tests and notebooks can read them back). Time axes use UTC scales and say "UTC" in their titles.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import altair as alt
import numpy as np
import pandas as pd

from ueba_api.frames import (
    HISTOGRAM_COLUMNS,
    UTC_DTYPE,
    RunsLike,
    histogram_frame,
    labelled_results,
    typed_frame,
)
from ueba_api.models import Histogram, Period, TrainingResult, as_utc, format_utc

# TensorBoard draws the raw curve faintly beneath the smoothed one.
RAW_CURVE_OPACITY = 0.25
OVERLAY_OPACITY = 0.45
EXCLUDED_OPACITY = 0.35
LOSS_FORMAT = ".4~g"
UTC_TIME_UNIT = "utcyearmonthdatehoursminutes"
UTC_TIME_FORMAT = "%Y-%m-%d %H:%M"
# Runs are told apart by hue. Said on the encoding, it wins over a theme's palette: Streamlit's default
# theme would otherwise give two runs two similar blues, and Jupyter shows the same colours.
RUN_SCHEME = "tableau10"
# Legend symbols drawn as short lines, long enough to show a dash pattern.
LINE_LEGEND = {"symbolType": "stroke", "symbolStrokeWidth": 2, "symbolSize": 500}
POINT_SIZE = 30
LINE_WIDTH = 2
# Points mark each epoch up to this many epochs; beyond, they would cover the validation curve's dashes.
MAX_EPOCHS_WITH_POINTS = 40
# The splits of a loss chart: a colour each when one run is drawn, a dash each always (solid training,
# long dashes for validation, visible at any number of epochs once the points are left out).
SPLIT_COLORS = {"training": "#4c78a8", "validation": "#f58518"}
SPLIT_DASHES = {"training": [1, 0], "validation": [8, 4]}
# Log-axis ticks are taken at these steps of each decade; the domain is padded by this share of its span.
LOG_TICK_STEPS = (1, 2, 5)
LOG_DOMAIN_PADDING = 0.02

# The statistic rules of the histogram, in legend order, with their colours.
MARKER_COLORS = {
    "mean": "#54a24b",
    "mean + 3·std": "#f58518",
    "q99": "#e45756",
    "q999": "#b279a2",
    "threshold": "#000000",
}
STATISTIC_DASH = [6, 3]
# The threshold is the reader's own choice, not a statistic of the run: a solid line tells it apart.
THRESHOLD_DASH = [1, 0]
MARKER_DIGITS = 4
HISTOGRAM_HEIGHT = 300


def _drawn(*layers: alt.Chart, nothing: str) -> alt.LayerChart:
    """The layers that have rows, layered; a note saying `nothing` where none has.

    Vega fits a shared scale to the extent of every layer's field, and a layer without rows has an
    infinite extent, which it logs ("Infinite extent for field ..."); it draws nothing anyway. A chart
    with no rows at all shows the note in place of empty axes.
    """
    with_rows = [layer for layer in layers if not layer.data.empty]
    if with_rows:
        return alt.layer(*with_rows)
    note = alt.Chart(pd.DataFrame({"note": [nothing]})).mark_text(fontSize=14, color="#808495")
    return alt.layer(note.encode(text="note:N"))


def _check_weight(field: str, weight: float) -> None:
    if not 0 <= weight < 1:
        raise ValueError(f"{field}: must be at least 0 and below 1, got {weight}")


def smooth(values: Sequence[float], weight: float) -> list[float]:
    """TensorBoard's smoothing: an exponential moving average, debiased at the start.

    `last = last * weight + (1 - weight) * value`, then `last / (1 - weight ** n)` for the n-th finite
    value. That is exactly pandas' adjusted EWM with `alpha = 1 - weight`. Like TensorBoard, NaN and
    infinite values are passed through and not counted. `weight` 0 leaves the values as they are.
    """
    _check_weight("weight", weight)
    series = pd.Series(values, dtype="float64")
    finite = pd.Series(np.isfinite(series.to_numpy()), index=series.index)
    smoothed = series.where(finite).ewm(alpha=1 - weight, adjust=True, ignore_na=True).mean()
    return smoothed.where(finite, series).tolist()


def log_ticks(low: float, high: float) -> list[float]:
    """Tick values for a log axis over [low, high] (both > 0): the 1-2-5 steps of each decade inside it,
    or every 1..9 step where that gives fewer than three. 0.0066..0.011 gets 0.007, 0.008, 0.009, 0.01;
    a range over several decades gets 0.001, 0.002, 0.005, 0.01, ...; a range too narrow for two such
    ticks gets none (the caller leaves the ticks to the scale then)."""
    if not 0 < low <= high:
        raise ValueError(f"log ticks need 0 < low <= high, got {low}, {high}")
    first, last = math.floor(math.log10(low)), math.ceil(math.log10(high))

    def ticks(steps: Sequence[int]) -> list[float]:
        values = (float(f"{step}e{power}") for power in range(first, last + 1) for step in steps)
        return [value for value in values if low <= value <= high]

    coarse = ticks(LOG_TICK_STEPS)
    if len(coarse) >= 3:
        return coarse
    fine = ticks(range(1, 10))
    return fine if len(fine) >= 2 else []  # too narrow a range for round ticks: the scale's own


def _log_domain(values: pd.Series) -> list[float]:
    """The data's own range, widened a little in log space so no point sits on the frame."""
    low, high = float(values.min()), float(values.max())
    pad = (math.log10(high) - math.log10(low)) * LOG_DOMAIN_PADDING or LOG_DOMAIN_PADDING
    return [low / 10**pad, high * 10**pad]


def loss_curves(frame: pd.DataFrame, *, log_scale: bool = False, smoothing: float = 0.0) -> alt.LayerChart:
    """Training and validation loss per epoch (a `frames.loss_frame`), runs overlaid.

    Training and validation are told apart at a glance: with one run by colour (and dash), with several
    the colour is the run and validation is drawn in long dashes, with points only where there are few
    enough epochs not to hide the dashes. With `smoothing` > 0 the smoothed curves are drawn over the
    raw ones, which stay faint. A log axis leaves out losses that are not positive (log 0 is −∞) and
    spans the data's own range with ticks from `log_ticks`, not the decades around it.
    """
    _check_weight("smoothing", smoothing)
    data = frame.sort_values(["run", "split", "epoch"]).reset_index(drop=True)
    data["smoothed_loss"] = data.groupby(["run", "split"], sort=False)["loss"].transform(
        lambda losses: smooth(losses.to_numpy(), smoothing)
    )
    shown = "smoothed_loss" if smoothing else "loss"
    # Rows without a finite loss to draw would give the axis an infinite extent: they are gaps anyway.
    drawn = [shown, "loss"] if smoothing else [shown]
    data = data[np.isfinite(data[drawn]).all(axis=1)]
    if log_scale:
        data = data[(data[drawn] > 0).all(axis=1)]
    title = "Loss (log scale)" if log_scale else "Loss"
    if log_scale and not data.empty:
        values = pd.concat([data[column] for column in drawn])
        domain = _log_domain(values)
        scale = alt.Scale(type="log", domain=domain, nice=False)
        axis = alt.Axis(values=log_ticks(*domain) or alt.Undefined, format="~g")
    else:
        scale, axis = alt.Scale(type="log") if log_scale else alt.Scale(zero=False), alt.Axis()
    one_run = data["run"].nunique() <= 1
    split_legend = alt.Legend(title="Split", **LINE_LEGEND)
    split_dash = alt.StrokeDash("split:N", sort=list(SPLIT_DASHES),
                                scale=alt.Scale(domain=list(SPLIT_DASHES), range=list(SPLIT_DASHES.values())),
                                legend=split_legend)
    if one_run:
        color = alt.Color("split:N", sort=list(SPLIT_COLORS), legend=split_legend,
                          scale=alt.Scale(domain=list(SPLIT_COLORS), range=list(SPLIT_COLORS.values())))
    else:
        color = alt.Color("run:N", title="Run", scale=alt.Scale(scheme=RUN_SCHEME),
                          legend=alt.Legend(**LINE_LEGEND))
    base = alt.Chart(data).encode(
        x=alt.X("epoch:Q", title="Epoch", axis=alt.Axis(tickMinStep=1, format="d")),
        color=color,
        tooltip=[
            alt.Tooltip("run:N", title="Run"),
            alt.Tooltip("split:N", title="Split"),
            alt.Tooltip("epoch:Q", title="Epoch"),
            alt.Tooltip("loss:Q", title="Loss", format=LOSS_FORMAT),
            alt.Tooltip("smoothed_loss:Q", title="Smoothed loss", format=LOSS_FORMAT),
        ],
    )
    # Every layer says the same scale and axis: Vega-Lite warns of a conflict where layers differ.
    y = alt.Y(f"{shown}:Q", title=title, scale=scale, axis=axis)
    curves = base.mark_line(strokeWidth=LINE_WIDTH).encode(y=y, strokeDash=split_dash)
    layers = [curves]
    # The points are a layer of their own, not `point=True` on the line: with an overlay Vega-Lite draws
    # the split legend as filled dots, which cannot show the dash. Many epochs' points would cover the
    # dashes, so they are drawn only for short runs.
    if data.empty or data["epoch"].max() <= MAX_EPOCHS_WITH_POINTS:
        layers.append(base.mark_point(filled=True, opacity=1, size=POINT_SIZE).encode(y=y))
    if smoothing:
        # strokeOpacity, not opacity: Vega-Lite gives the legend symbols the first layer's opacity.
        raw = base.mark_line(strokeOpacity=RAW_CURVE_OPACITY, strokeWidth=LINE_WIDTH).encode(
            y=alt.Y("loss:Q", title=title, scale=scale, axis=axis), strokeDash=split_dash
        )
        layers.insert(0, raw)
    # SVG: the axis labels are text a browser test can read (a few hundred points draw as fast).
    return _drawn(*layers, nothing="No finite losses to draw").properties(
        usermeta={"embedOptions": {"renderer": "svg"}})


def _bins_tooltip() -> list[alt.Tooltip]:
    return [
        alt.Tooltip("bin_start:Q", title="Loss from", format=LOSS_FORMAT),
        alt.Tooltip("bin_end:Q", title="Loss to", format=LOSS_FORMAT),
        alt.Tooltip("count:Q", title="Connections", format=",.0f"),
        alt.Tooltip("share:Q", title="Share", format=".2%"),
    ]


def _loss_x(field: str, *, binned: bool = False) -> alt.X:
    """The shared loss axis; every layer titles it alike, or Vega-Lite would join the titles."""
    return alt.X(field, bin="binned" if binned else alt.Undefined, title="Validation loss per connection")


def _loss_rules(data: pd.DataFrame, field: str, tooltip: list[alt.Tooltip], **channels: Any) -> alt.Chart:
    """Vertical rules at the loss values in `field`, dashed unless a strokeDash channel says otherwise."""
    return (
        alt.Chart(data)
        .mark_rule(strokeWidth=2, strokeDash=STATISTIC_DASH)
        .encode(x=_loss_x(f"{field}:Q"), tooltip=tooltip, **channels)
    )


def _markers(source: TrainingResult | Histogram | pd.DataFrame, threshold: float | None) -> pd.DataFrame:
    """One row per rule: marker, loss and label ("q99 = 0.01832", its legend entry)."""
    values: dict[str, float | None] = dict.fromkeys(MARKER_COLORS)
    if isinstance(source, TrainingResult):
        values["mean"] = source.mean
        if source.mean is not None and source.std is not None:
            values["mean + 3·std"] = source.mean + 3 * source.std
        values["q99"] = source.quantile_99
        values["q999"] = source.quantile_999
    values["threshold"] = threshold
    # The threshold row comes first, so its solid rule is drawn beneath the dashed ones: a threshold at
    # q99 (where the explorer starts) shows as red dashes on black rather than hiding the q99 rule.
    order = ["threshold", *(marker for marker in MARKER_COLORS if marker != "threshold")]
    rows = [(marker, values[marker]) for marker in order if values[marker] is not None]
    return pd.DataFrame(
        {
            "marker": [marker for marker, _ in rows],
            "loss": pd.Series([loss for _, loss in rows], dtype="float64"),
            # "#" keeps trailing zeros: every value shows the same number of significant digits.
            "label": [f"{marker} = {loss:#.{MARKER_DIGITS}g}" for marker, loss in rows],
        }
    )


def _count_ticks(counts: pd.Series) -> list[int]:
    """0 and the powers of ten up to the largest count: a symlog axis left to itself labels only its ends."""
    largest = float(counts.max()) if len(counts) else 0.0
    ticks, power = [0], 1
    while power <= largest:
        ticks.append(power)
        power *= 10
    return ticks


def validation_histogram(
    source: TrainingResult | Histogram | pd.DataFrame,
    *,
    log_scale: bool = False,
    threshold: float | None = None,
) -> alt.LayerChart:
    """The histogram of per-connection validation loss, with rules at its statistics.

    `source` is a result (rules at mean, mean + 3·std, q99 and q999 come from its numbers), a
    Histogram or a `frames.histogram_frame`. `threshold` (a loss value) adds one more rule, solid where
    the statistics are dashed. A legend names each rule with its value: labels beside the rules would
    collide whenever statistics lie close together, which in a long-tailed loss they usually do.

    A log axis cannot show an empty bin (log 0 is −∞, and every bar starts at 0), so `log_scale` uses a
    symmetric-log scale: logarithmic for large counts, linear near zero, where empty bins stay flat. Its
    ticks are 0 and the powers of ten up to the largest count.
    """
    bins = source if isinstance(source, pd.DataFrame) else histogram_frame(source)
    markers = _markers(source, threshold)
    if log_scale:
        y_title = "Connections (symlog scale)"
        scale = alt.Scale(type="symlog")
        axis = alt.Axis(values=_count_ticks(bins["count"]), format=",d")
    else:
        # Counts are whole: no ticks between integers when the largest count is small.
        y_title, scale, axis = "Connections", alt.Scale(), alt.Axis(format=",d", tickMinStep=1)
    bars = (
        alt.Chart(bins)
        .mark_bar(color="#9ecae9", binSpacing=0)
        .encode(
            x=_loss_x("bin_start:Q", binned=True),
            x2="bin_end:Q",
            y=alt.Y("count:Q", title=y_title, scale=scale, axis=axis),
            tooltip=_bins_tooltip(),
        )
    )
    labels = dict(zip(markers["marker"], markers["label"], strict=True))
    shown = [marker for marker in MARKER_COLORS if marker in labels]  # legend order
    dashes = [THRESHOLD_DASH if marker == "threshold" else STATISTIC_DASH for marker in shown]
    # Below the plot, one rule a line: at the side the legend would take a third of a narrow chart's
    # width; in a row its long labels would run past the chart's edge.
    legend = alt.Legend(title="Statistic", orient="bottom", direction="vertical", **LINE_LEGEND)
    domain = [labels[marker] for marker in shown]
    # Colour and dash share the field, title and legend: Vega-Lite draws one legend with both.
    rules = _loss_rules(
        markers,
        "loss",
        [alt.Tooltip("marker:N", title="Statistic"), alt.Tooltip("loss:Q", title="Loss", format=LOSS_FORMAT)],
        color=alt.Color("label:N", legend=legend,
                        scale=alt.Scale(domain=domain, range=[MARKER_COLORS[marker] for marker in shown])),
        strokeDash=alt.StrokeDash("label:N", legend=legend, scale=alt.Scale(domain=domain, range=dashes)),
    )
    # The plot's height said outright, and only the width fitted: Streamlit's theme fits plot and legend
    # into one fixed height, so the legend's rows below would come out of the plot.
    return _drawn(bars, rules, nothing="No validation histogram to draw").properties(
        height=HISTOGRAM_HEIGHT, autosize=alt.AutoSizeParams(type="fit-x", contains="padding")
    )


def histogram_overlay(results: RunsLike) -> alt.LayerChart:
    """Several runs' validation-loss histograms on one loss axis, each bin as a share of its run.

    Shares (count / the run's total) make runs of different sizes comparable; dashed rules mark each
    run's q99. Bins keep their own edges, so runs with different loss ranges still line up on the axis.
    """
    labelled = labelled_results(results)
    rows = [
        {**row, "run": label}
        for label, result in labelled
        for row in histogram_frame(result).to_dict("records")
    ]
    bins = typed_frame(rows, {**HISTOGRAM_COLUMNS, "run": "str"})
    quantiles = pd.DataFrame(
        [{"run": label, "quantile_99": result.quantile_99} for label, result in labelled
         if result.quantile_99 is not None],
        columns=["run", "quantile_99"],
    )
    color = alt.Color("run:N", title="Run", scale=alt.Scale(scheme=RUN_SCHEME))
    bars = (
        alt.Chart(bins)
        .mark_bar(opacity=OVERLAY_OPACITY, binSpacing=0)
        .encode(
            x=_loss_x("bin_start:Q", binned=True),
            x2="bin_end:Q",
            y=alt.Y("share:Q", stack=None, title="Share of the run's validation connections",
                    axis=alt.Axis(format="%")),
            color=color,
            tooltip=[alt.Tooltip("run:N", title="Run"), *_bins_tooltip()],
        )
    )
    rules = _loss_rules(
        quantiles,
        "quantile_99",
        [alt.Tooltip("run:N", title="Run"), alt.Tooltip("quantile_99:Q", title="q99", format=LOSS_FORMAT)],
        color=color,
    )
    return _drawn(bars, rules, nothing="No validation histograms to draw")


def _utc_domain(start: datetime, end: datetime) -> alt.ExprRef:
    """A time axis's span as a Vega expression, to the second.

    Not as DateTime objects: Vega-Lite converts those for the x channel but not for x2, then warns that the
    two domains conflict ("Conflicting scale property domain", twice a render, once per layer) and
    joins them into a domain Vega cannot read ("Infinite extent for field data").
    """
    ends = (f"toDate('{format_utc(as_utc(value).replace(microsecond=0))}')" for value in (start, end))
    return alt.ExprRef(expr=f"[{', '.join(ends)}]")


def coverage_timeline(
    daily: pd.DataFrame,
    excluded: Iterable[Period] = (),
    range_start: datetime | None = None,
    range_end: datetime | None = None,
) -> alt.LayerChart:
    """Connections per bucket (a `coverage.connections_per_day` frame) with the excluded periods shaded.

    `daily` needs columns day (bucket start, UTC) and count; `end` (bucket end) defaults to a day
    later. The axis spans `range_start`..`range_end` when given, else the buckets and periods; shading
    outside it is clipped.
    """
    buckets = daily.copy()
    if "end" not in buckets.columns:
        buckets["end"] = buckets["day"] + pd.Timedelta(days=1)
    shaded = typed_frame(
        ({"start": period.start, "end": period.end, "what": "Excluded"} for period in excluded),
        {"start": UTC_DTYPE, "end": UTC_DTYPE, "what": "str"},
    )
    if range_start is None or range_end is None:
        starts = pd.concat([buckets["day"], shaded["start"]])
        if starts.empty:
            return _drawn(nothing="No connections to draw")
        range_start, range_end = starts.min(), pd.concat([buckets["end"], shaded["end"]]).max()
    # The span is always said: the shading layer then adds no extent to fit even without periods (it
    # stays for its legend, which tells what grey means).
    x_scale = alt.Scale(type="utc", domain=_utc_domain(range_start, range_end))
    bars = (
        alt.Chart(buckets)
        .mark_bar(color="#4c78a8", clip=True)
        .encode(
            x=alt.X("day:T", title="Time (UTC)", scale=x_scale),
            x2="end:T",
            y=alt.Y("count:Q", title=f"Connections per {_bucket_name(buckets)}",
                    # No buckets (a range not counted yet) have no extent to fit: the axis is said.
                    scale=alt.Scale(domain=[0, 1]) if buckets.empty else alt.Undefined),
            # With x2 set, a bar needs its base said outright, or Vega-Lite draws it as a horizontal band.
            y2=alt.datum(0),
            tooltip=[
                alt.Tooltip("day:T", title="From (UTC)", timeUnit=UTC_TIME_UNIT, format=UTC_TIME_FORMAT),
                alt.Tooltip("end:T", title="Until (UTC)", timeUnit=UTC_TIME_UNIT, format=UTC_TIME_FORMAT),
                alt.Tooltip("count:Q", title="Connections", format=","),
            ],
        )
    )
    shading = (
        alt.Chart(shaded)
        .mark_rect(opacity=EXCLUDED_OPACITY, clip=True)
        .encode(
            x=alt.X("start:T", title="Time (UTC)", scale=x_scale),
            x2="end:T",
            color=alt.Color("what:N", title=None, scale=alt.Scale(domain=["Excluded"], range=["#888888"])),
            tooltip=[
                alt.Tooltip("start:T", title="Excluded from (UTC)", timeUnit=UTC_TIME_UNIT,
                            format=UTC_TIME_FORMAT),
                alt.Tooltip("end:T", title="Until (UTC)", timeUnit=UTC_TIME_UNIT, format=UTC_TIME_FORMAT),
            ],
        )
    )
    return alt.layer(bars, shading)


def _bucket_name(buckets: pd.DataFrame) -> str:
    """'day', or 'N days' when the frame holds longer buckets (long ranges are counted per week)."""
    if buckets.empty:
        return "day"
    days = round((buckets["end"] - buckets["day"]).max() / pd.Timedelta(days=1))
    return "day" if days <= 1 else f"{days} days"
