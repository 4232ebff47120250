"""Altair charts of training results and dataset coverage.

Each chart carries its data inline, so `chart.to_dict()` holds the very numbers the API returned
(tests and notebooks can read them back). Time axes use UTC scales and say "UTC" in their titles.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

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
from ueba_api.models import Histogram, Period, TrainingResult, as_utc

# TensorBoard draws the raw curve faintly beneath the smoothed one.
RAW_CURVE_OPACITY = 0.25
OVERLAY_OPACITY = 0.45
EXCLUDED_OPACITY = 0.35
LOSS_FORMAT = ".4~g"
UTC_TIME_UNIT = "utcyearmonthdatehoursminutes"
UTC_TIME_FORMAT = "%Y-%m-%d %H:%M"

# The statistic rules of the histogram, in drawing order, with their colours.
MARKER_COLORS = {
    "mean": "#54a24b",
    "mean + 3·std": "#f58518",
    "q99": "#e45756",
    "q999": "#b279a2",
    "threshold": "#000000",
}
# Labels sit at the top of the plot, one line (in pixels) lower each, so neighbouring rules stay readable.
LABEL_TOP_PX = 6
LABEL_LINE_PX = 14


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


def loss_curves(
    frame: pd.DataFrame, *, log_scale: bool = False, smoothing: float = 0.0
) -> alt.Chart | alt.LayerChart:
    """Training and validation loss per epoch (a `frames.loss_frame`), runs overlaid.

    Colour is the run, dash the split. With `smoothing` > 0 the smoothed curves are drawn over the raw
    ones, which stay faint. A log axis leaves out losses that are not positive (log 0 is −∞).
    """
    _check_weight("smoothing", smoothing)
    data = frame.sort_values(["run", "split", "epoch"]).reset_index(drop=True)
    data["smoothed_loss"] = data.groupby(["run", "split"], sort=False)["loss"].transform(
        lambda losses: smooth(losses.to_numpy(), smoothing)
    )
    if log_scale:
        data = data[data["loss"] > 0]
    scale = alt.Scale(type="log") if log_scale else alt.Scale(zero=False)
    base = alt.Chart(data).encode(
        x=alt.X("epoch:Q", title="Epoch", axis=alt.Axis(tickMinStep=1, format="d")),
        color=alt.Color("run:N", title="Run"),
        strokeDash=alt.StrokeDash("split:N", title="Split", sort=["training", "validation"]),
        tooltip=[
            alt.Tooltip("run:N", title="Run"),
            alt.Tooltip("split:N", title="Split"),
            alt.Tooltip("epoch:Q", title="Epoch"),
            alt.Tooltip("loss:Q", title="Loss", format=LOSS_FORMAT),
            alt.Tooltip("smoothed_loss:Q", title="Smoothed loss", format=LOSS_FORMAT),
        ],
    )
    title = "Loss (log scale)" if log_scale else "Loss"
    if smoothing == 0:
        return base.mark_line(point=True).encode(y=alt.Y("loss:Q", title=title, scale=scale))
    raw = base.mark_line(opacity=RAW_CURVE_OPACITY).encode(y=alt.Y("loss:Q", title=title, scale=scale))
    smoothed = base.mark_line(point=True).encode(y=alt.Y("smoothed_loss:Q", title=title, scale=scale))
    return alt.layer(raw, smoothed)


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


def _loss_rules(data: pd.DataFrame, field: str, color: alt.Color, tooltip: list[alt.Tooltip]) -> alt.Chart:
    """Dashed vertical rules at the loss values in `field`."""
    return (
        alt.Chart(data)
        .mark_rule(strokeWidth=2, strokeDash=[6, 3])
        .encode(x=_loss_x(f"{field}:Q"), color=color, tooltip=tooltip)
    )


def _markers(source: TrainingResult | Histogram | pd.DataFrame, threshold: float | None) -> pd.DataFrame:
    values: dict[str, float | None] = dict.fromkeys(MARKER_COLORS)
    if isinstance(source, TrainingResult):
        values["mean"] = source.mean
        if source.mean is not None and source.std is not None:
            values["mean + 3·std"] = source.mean + 3 * source.std
        values["q99"] = source.quantile_99
        values["q999"] = source.quantile_999
    values["threshold"] = threshold
    rows = [(marker, loss) for marker, loss in values.items() if loss is not None]
    return pd.DataFrame(
        {
            "marker": [marker for marker, _ in rows],
            "loss": pd.Series([loss for _, loss in rows], dtype="float64"),
            "label": [f"{marker} = {loss:.4g}" for marker, loss in rows],
            "label_y": [LABEL_TOP_PX + LABEL_LINE_PX * position for position in range(len(rows))],
        }
    )


def validation_histogram(
    source: TrainingResult | Histogram | pd.DataFrame,
    *,
    log_scale: bool = False,
    threshold: float | None = None,
) -> alt.LayerChart:
    """The histogram of per-connection validation loss, with labelled rules at its statistics.

    `source` is a result (rules at mean, mean + 3·std, q99 and q999 come from its numbers), a
    Histogram or a `frames.histogram_frame`. `threshold` (a loss value) adds one more rule.

    A log axis cannot show an empty bin (log 0 is −∞, and every bar starts at 0), so `log_scale` uses a
    symmetric-log scale: logarithmic for large counts, linear near zero, where empty bins stay flat.
    """
    bins = source if isinstance(source, pd.DataFrame) else histogram_frame(source)
    markers = _markers(source, threshold)
    scale = alt.Scale(type="symlog") if log_scale else alt.Scale()
    bars = (
        alt.Chart(bins)
        .mark_bar(color="#9ecae9", binSpacing=0)
        .encode(
            x=_loss_x("bin_start:Q", binned=True),
            x2="bin_end:Q",
            y=alt.Y("count:Q", title="Connections (symlog scale)" if log_scale else "Connections",
                    scale=scale),
            tooltip=_bins_tooltip(),
        )
    )
    marker_color = alt.Color(
        "marker:N",
        scale=alt.Scale(domain=list(MARKER_COLORS), range=list(MARKER_COLORS.values())),
        legend=None,
    )
    rules = _loss_rules(
        markers,
        "loss",
        marker_color,
        [alt.Tooltip("marker:N", title="Statistic"), alt.Tooltip("loss:Q", title="Loss", format=LOSS_FORMAT)],
    )
    labels = (
        alt.Chart(markers)
        .mark_text(align="left", baseline="middle", dx=4, fontWeight="bold")
        .encode(
            x=_loss_x("loss:Q"),
            # No scale: label_y is pixels from the top.
            y=alt.Y("label_y:Q", scale=None, axis=None),
            text="label:N",
            color=marker_color,
        )
    )
    return alt.layer(bars, rules, labels)


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
    color = alt.Color("run:N", title="Run")
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
        color,
        [alt.Tooltip("run:N", title="Run"), alt.Tooltip("quantile_99:Q", title="q99", format=LOSS_FORMAT)],
    )
    return alt.layer(bars, rules)


def _utc_datetime(value: datetime) -> alt.DateTime:
    value = as_utc(value)
    return alt.DateTime(
        year=value.year, month=value.month, date=value.day, hours=value.hour, minutes=value.minute,
        seconds=value.second, utc=True,
    )


def coverage_timeline(
    daily: pd.DataFrame,
    excluded: Iterable[Period] = (),
    range_start: datetime | None = None,
    range_end: datetime | None = None,
) -> alt.LayerChart:
    """Connections per bucket (a `coverage.connections_per_day` frame) with the excluded periods shaded.

    `daily` needs columns day (bucket start, UTC) and count; `end` (bucket end) defaults to a day
    later. The axis spans `range_start`..`range_end` when given; shading outside it is clipped.
    """
    buckets = daily.copy()
    if "end" not in buckets.columns:
        buckets["end"] = buckets["day"] + pd.Timedelta(days=1)
    domain = None
    if range_start is not None and range_end is not None:
        domain = [_utc_datetime(range_start), _utc_datetime(range_end)]
    x_scale = alt.Scale(type="utc", domain=domain) if domain else alt.Scale(type="utc")
    bars = (
        alt.Chart(buckets)
        .mark_bar(color="#4c78a8", clip=True)
        .encode(
            x=alt.X("day:T", title="Time (UTC)", scale=x_scale),
            x2="end:T",
            y=alt.Y("count:Q", title=f"Connections per {_bucket_name(buckets)}"),
            # With x2 set, a bar needs its base said outright, or Vega-Lite draws it as a horizontal band.
            y2=alt.datum(0),
            tooltip=[
                alt.Tooltip("day:T", title="From (UTC)", timeUnit=UTC_TIME_UNIT, format=UTC_TIME_FORMAT),
                alt.Tooltip("end:T", title="Until (UTC)", timeUnit=UTC_TIME_UNIT, format=UTC_TIME_FORMAT),
                alt.Tooltip("count:Q", title="Connections", format=","),
            ],
        )
    )
    shaded = typed_frame(
        ({"start": period.start, "end": period.end, "what": "Excluded"} for period in excluded),
        {"start": UTC_DTYPE, "end": UTC_DTYPE, "what": "str"},
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
