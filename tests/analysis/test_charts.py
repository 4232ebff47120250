from __future__ import annotations

import math
from datetime import UTC, datetime

import pandas as pd
import pytest

from ueba_api.charts import (
    MARKER_COLORS,
    coverage_timeline,
    histogram_overlay,
    log_ticks,
    loss_curves,
    smooth,
    validation_histogram,
)
from ueba_api.frames import histogram_frame, loss_frame, training_runs
from ueba_api.models import DatasetList, Histogram, Period, TrainingResult

from .vega import data_of, layers, mark_of, spec_of


def test_smooth_matches_a_hand_computation() -> None:
    # weight 0.5: last = 0.5, 1.25, 2.125; debiased by 0.5, 0.75, 0.875.
    assert smooth([1.0, 2.0, 3.0], 0.5) == pytest.approx([1.0, 5 / 3, 17 / 7])
    # weight 0.9 on [10, 0]: last = 1.0 -> 1.0 / 0.1 = 10; then 0.9 -> 0.9 / 0.19.
    assert smooth([10.0, 0.0], 0.9) == pytest.approx([10.0, 0.9 / 0.19])


def test_smooth_with_weight_zero_leaves_values_alone() -> None:
    assert smooth([0.3, 0.1, 0.2], 0.0) == [0.3, 0.1, 0.2]


def test_smooth_passes_non_finite_values_through_without_counting_them() -> None:
    smoothed = smooth([1.0, math.nan, 3.0, math.inf], 0.5)

    # 3.0 is the second finite value: last = 0.5 * 0.5 + 0.5 * 3 = 1.75, debiased by 0.75.
    assert smoothed[0] == 1.0 and math.isnan(smoothed[1])
    assert smoothed[2] == pytest.approx(1.75 / 0.75)
    assert smoothed[3] == math.inf


@pytest.mark.parametrize("weight", [1.0, -0.1, 1.5])
def test_smooth_refuses_a_weight_outside_0_to_1(weight: float) -> None:
    with pytest.raises(ValueError, match="weight: must be at least 0 and below 1"):
        smooth([1.0], weight)


def test_loss_curves_overlay_runs_by_colour_and_splits_by_dash(dataset_list: DatasetList) -> None:
    frame = loss_frame(training_runs(dataset_list))
    spec = spec_of(loss_curves(frame))

    lines, points = layers(spec)
    assert mark_of(lines)["type"] == "line"
    assert mark_of(points)["type"] == "point" and mark_of(points)["filled"] is True
    encoding = lines["encoding"]
    assert (encoding["x"]["field"], encoding["y"]["field"]) == ("epoch", "loss")
    assert (encoding["color"]["field"], encoding["strokeDash"]["field"]) == ("run", "split")
    # Validation in long dashes, said on the scale (a theme's default dashes are too short to see).
    assert encoding["strokeDash"]["scale"] == {"domain": ["training", "validation"],
                                               "range": [[1, 0], [8, 4]]}
    assert points["encoding"]["y"]["field"] == "loss" and "strokeDash" not in points["encoding"]
    assert "type" not in encoding["y"].get("scale", {})
    assert [tip["field"] for tip in encoding["tooltip"]] == ["run", "split", "epoch", "loss", "smoothed_loss"]
    records = pd.DataFrame(data_of(spec, lines))
    assert len(records) == len(frame)
    validation = records[(records["run"] == "Q1 2024 baseline #2") & (records["split"] == "validation")]
    success = dataset_list.items[0].training_results[1]
    assert validation.sort_values("epoch")["loss"].tolist() == success.validation_dataset_loss
    assert (records["smoothed_loss"] == records["loss"]).all()


def test_loss_curves_legends_draw_lines_and_runs_keep_their_hues_under_any_theme() -> None:
    result = TrainingResult(status="SUCCESS", training_dataset_loss=[1.0])
    spec = spec_of(loss_curves(loss_frame({"a": result, "b": result})))

    encoding = layers(spec)[0]["encoding"]
    # Line symbols, so the split legend shows solid against dashed (dots would look alike).
    assert encoding["strokeDash"]["legend"]["symbolType"] == "stroke"
    assert encoding["color"]["legend"]["symbolType"] == "stroke"
    # A scheme on the encoding outranks the palette a theme (Streamlit's) puts in the config.
    assert encoding["color"]["scale"] == {"scheme": "tableau10"}


def test_one_runs_splits_differ_in_colour_and_long_runs_draw_no_points_over_the_dashes() -> None:
    short = TrainingResult(status="SUCCESS", training_dataset_loss=[0.3, 0.2],
                           validation_dataset_loss=[0.4, 0.3])
    lines, points = layers(spec_of(loss_curves(loss_frame({"#1": short}))))
    for layer in (lines, points):
        assert layer["encoding"]["color"]["field"] == "split"
        assert layer["encoding"]["color"]["scale"] == {"domain": ["training", "validation"],
                                                       "range": ["#4c78a8", "#f58518"]}
    long = TrainingResult(status="SUCCESS", training_dataset_loss=[0.1] * 200,
                          validation_dataset_loss=[0.2] * 200)
    assert [mark_of(layer)["type"] for layer in layers(spec_of(loss_curves(loss_frame({"#1": long}))))] == [
        "line"]


def test_a_log_axis_spans_the_datas_range_with_a_tick_at_0_01() -> None:
    # Losses between 0.0066 and 0.011, as a converged model gives: not 0.001 to 0.1.
    run = TrainingResult(status="SUCCESS", training_dataset_loss=[0.011, 0.008, 0.0066],
                         validation_dataset_loss=[0.0105, 0.0085, 0.0071])
    spec = spec_of(loss_curves(loss_frame({"#1": run}), log_scale=True, smoothing=0.5))
    scales = [layer["encoding"]["y"]["scale"] for layer in layers(spec)]
    axes = [layer["encoding"]["y"]["axis"] for layer in layers(spec)]
    # One scale and axis, said alike on every layer: layers that differ make Vega-Lite warn of a conflict.
    assert all(scale == scales[0] for scale in scales) and all(axis == axes[0] for axis in axes)
    low, high = scales[0]["domain"]
    assert scales[0]["type"] == "log" and scales[0]["nice"] is False
    assert 0.0060 < low <= 0.0066 and 0.011 <= high < 0.012
    assert axes[0]["values"] == [0.007, 0.008, 0.009, 0.01]


@pytest.mark.parametrize(("low", "high", "ticks"), [
    (0.0066, 0.011, [0.007, 0.008, 0.009, 0.01]),
    (0.0009, 0.12, [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1]),
    (0.15, 0.45, [0.2, 0.3, 0.4]),
    (0.0201, 0.0209, []),
])
def test_log_ticks(low: float, high: float, ticks: list[float]) -> None:
    assert log_ticks(low, high) == ticks


def test_losses_missing_or_not_positive_leave_no_infinite_extent() -> None:
    run = TrainingResult(status="SUCCESS", training_dataset_loss=[float("nan"), 0.0, 0.02],
                         validation_dataset_loss=[0.03, float("inf"), 0.01])
    for log_scale in (False, True):
        spec = spec_of(loss_curves(loss_frame({"#1": run}), log_scale=log_scale))
        drawn = [record["loss"] for record in data_of(spec, layers(spec)[0])]
        assert all(math.isfinite(loss) for loss in drawn)
        assert sorted(drawn) == ([0.01, 0.02, 0.03] if log_scale else [0.0, 0.01, 0.02, 0.03])


def test_loss_curves_draw_smoothed_curves_over_faint_raw_ones(trained: TrainingResult) -> None:
    spec = spec_of(loss_curves(loss_frame({"run": trained}), smoothing=0.6))

    raw, smoothed, points = layers(spec)
    # strokeOpacity rather than opacity, which the legend symbols would take on too.
    assert mark_of(raw)["strokeOpacity"] == 0.25 and "opacity" not in mark_of(raw)
    assert raw["encoding"]["y"]["field"] == "loss"
    assert smoothed["encoding"]["y"]["field"] == "smoothed_loss" and "strokeOpacity" not in mark_of(smoothed)
    assert points["encoding"]["y"]["field"] == "smoothed_loss"
    records = pd.DataFrame(data_of(spec, smoothed))
    training = records[records["split"] == "training"].sort_values("epoch")
    assert training["loss"].tolist() == trained.training_dataset_loss
    assert training["smoothed_loss"].tolist() == pytest.approx(smooth(trained.training_dataset_loss, 0.6))


def test_loss_curves_on_a_log_axis_leave_out_losses_that_are_not_positive() -> None:
    result = TrainingResult(status="SUCCESS", training_dataset_loss=[0.5, 0.0, 0.25])
    spec = spec_of(loss_curves(loss_frame(result), log_scale=True))

    for layer in layers(spec):
        assert layer["encoding"]["y"]["scale"]["type"] == "log"
        assert layer["encoding"]["y"]["title"] == "Loss (log scale)"
        assert [record["loss"] for record in data_of(spec, layer)] == [0.5, 0.25]


def test_loss_curves_name_a_smoothing_weight_out_of_range_even_without_data() -> None:
    with pytest.raises(ValueError, match=r"smoothing: must be at least 0 and below 1, got 1\.0"):
        loss_curves(loss_frame([]), smoothing=1.0)


def _note(spec: dict) -> str:
    """The text of a chart that says there is nothing to draw (one text mark, no scale to fit)."""
    (layer,) = layers(spec)
    assert mark_of(layer)["type"] == "text" and set(layer["encoding"]) == {"text"}
    (record,) = data_of(spec, layer)
    return record["note"]


@pytest.mark.parametrize(
    ("runs", "log_scale"),
    [
        ([], False),
        ({"failed": TrainingResult(status="FAILURE")}, False),
        ({"no finite loss": TrainingResult(status="SUCCESS", training_dataset_loss=[math.nan],
                                           validation_dataset_loss=[math.inf])}, False),
        ({"no positive loss": TrainingResult(status="SUCCESS", training_dataset_loss=[0.0, 0.0])}, True),
    ],
)
def test_loss_curves_without_a_loss_to_draw_say_so(runs: object, log_scale: bool) -> None:
    # An empty layer's extent is infinite: Vega logs "Infinite extent for field ..." for each of its fields.
    spec = spec_of(loss_curves(loss_frame(runs), smoothing=0.5, log_scale=log_scale))
    assert _note(spec) == "No finite losses to draw"


def test_validation_histogram_draws_the_api_bins_and_labelled_statistics(trained: TrainingResult) -> None:
    spec = spec_of(validation_histogram(trained, threshold=0.15))
    histogram = trained.validation_dataset_histogram

    bars, rules = layers(spec)
    assert mark_of(bars)["type"] == "bar"
    assert bars["encoding"]["x"] | {"title": None} == {
        "field": "bin_start", "bin": "binned", "type": "quantitative", "title": None,
    }
    assert bars["encoding"]["x2"] == {"field": "bin_end"}
    assert bars["encoding"]["y"]["field"] == "count"
    assert [tip["field"] for tip in bars["encoding"]["tooltip"]] == ["bin_start", "bin_end", "count", "share"]
    bins = data_of(spec, bars)
    assert [record["count"] for record in bins] == histogram.hist
    assert [record["bin_start"] for record in bins] + [bins[-1]["bin_end"]] == histogram.bin_edges

    assert mark_of(rules)["type"] == "rule" and rules["encoding"]["x"]["field"] == "loss"
    records = data_of(spec, rules)
    markers = {record["marker"]: record["loss"] for record in records}
    assert markers == {
        "mean": trained.mean,
        "mean + 3·std": trained.mean + 3 * trained.std,
        "q99": trained.quantile_99,
        "q999": trained.quantile_999,
        "threshold": 0.15,
    }
    # Drawn first, so the solid threshold lies beneath a dashed statistic at the same loss.
    assert records[0]["marker"] == "threshold"
    # Each label carries four significant digits, trailing zeros kept.
    labels = {record["marker"]: record["label"] for record in records}
    assert labels == {
        "mean": "mean = 0.03902",
        "mean + 3·std": "mean + 3·std = 0.1094",
        "q99": "q99 = 0.1251",
        "q999": "q999 = 0.1817",
        "threshold": "threshold = 0.1500",
    }

    # No text on the plot: one legend names the rules, colour and dash keyed by the same label.
    color, dash = rules["encoding"]["color"], rules["encoding"]["strokeDash"]
    assert color["field"] == dash["field"] == "label"
    assert color["legend"] == dash["legend"]
    assert color["legend"]["title"] == "Statistic" and color["legend"]["symbolType"] == "stroke"
    assert (color["legend"]["orient"], color["legend"]["direction"]) == ("bottom", "vertical")
    # Below the plot, the legend adds to the chart's height rather than taking from the plot's (Streamlit's
    # theme fits whole charts into one height unless the spec says otherwise).
    assert spec["autosize"] == {"type": "fit-x", "contains": "padding"} and spec["height"] > 0
    in_legend_order = ["mean", "mean + 3·std", "q99", "q999", "threshold"]
    assert color["scale"]["domain"] == dash["scale"]["domain"] == [labels[name] for name in in_legend_order]
    assert color["scale"]["range"] == [MARKER_COLORS[name] for name in in_legend_order]
    solid, dashed = [1, 0], mark_of(rules)["strokeDash"]
    assert dashed != solid and dash["scale"]["range"] == [dashed, dashed, dashed, dashed, solid]


def test_validation_histogram_legend_lists_only_the_rules_drawn() -> None:
    result = TrainingResult(
        status="SUCCESS", quantile_99=0.2,
        validation_dataset_histogram=Histogram(hist=[5.0, 1.0], bin_edges=[0.0, 0.1, 0.3]),
    )
    rules = layers(spec_of(validation_histogram(result)))[1]

    assert rules["encoding"]["color"]["scale"] == {
        "domain": ["q99 = 0.2000"], "range": [MARKER_COLORS["q99"]],
    }


@pytest.mark.parametrize(
    ("counts", "ticks"),
    [
        ([1200.0, 0.0, 3.0], [0, 1, 10, 100, 1000]),
        ([1000.0, 999.0], [0, 1, 10, 100, 1000]),
        ([999.0, 5.0], [0, 1, 10, 100]),
        ([9.0], [0, 1]),
        ([0.0, 0.0], [0]),
    ],
)
def test_validation_histogram_log_axis_is_symlog_with_ticks_at_powers_of_ten(
    counts: list[float], ticks: list[int]
) -> None:
    edges = [0.1 * index for index in range(len(counts) + 1)]
    spec = spec_of(validation_histogram(Histogram(hist=counts, bin_edges=edges), log_scale=True))

    # A bare histogram has no statistics: no rules unless a threshold is asked for (and no empty layer,
    # whose infinite extent Vega would log).
    (bars,) = layers(spec)
    y = bars["encoding"]["y"]
    assert y["scale"] == {"type": "symlog"}
    assert y["axis"]["values"] == ticks
    assert [record["count"] for record in data_of(spec, bars)] == counts


def test_validation_histogram_linear_axis_leaves_the_ticks_to_vega() -> None:
    histogram = Histogram(hist=[3.0, 1.0], bin_edges=[0.0, 0.1, 0.2])
    y = layers(spec_of(validation_histogram(histogram)))[0]["encoding"]["y"]
    assert "type" not in y.get("scale", {}) and "values" not in y["axis"]
    assert y["axis"]["tickMinStep"] == 1


def test_validation_histogram_takes_a_histogram_frame(trained: TrainingResult) -> None:
    spec = spec_of(validation_histogram(histogram_frame(trained), threshold=0.2))

    bars, rules = layers(spec)
    assert len(data_of(spec, bars)) == len(trained.validation_dataset_histogram.hist)
    assert data_of(spec, rules) == [{"marker": "threshold", "loss": 0.2, "label": "threshold = 0.2000"}]


def test_histogram_overlay_puts_runs_on_one_axis_as_shares(trained: TrainingResult) -> None:
    small = TrainingResult(
        status="SUCCESS", quantile_99=0.26,
        validation_dataset_histogram=Histogram(hist=[10.0, 30.0, 60.0], bin_edges=[0.0, 0.1, 0.2, 0.3]),
    )
    spec = spec_of(histogram_overlay([("big", trained), ("small", small)]))

    bars, rules = layers(spec)
    assert bars["encoding"]["color"]["scale"] == {"scheme": "tableau10"}
    assert bars["encoding"]["y"] | {"title": None, "axis": None} == {
        "field": "share", "type": "quantitative", "stack": None, "title": None, "axis": None,
    }
    assert bars["encoding"]["color"]["field"] == "run"
    records = pd.DataFrame(data_of(spec, bars))
    assert records.groupby("run")["share"].sum().to_dict() == pytest.approx({"big": 1.0, "small": 1.0})
    assert records[records["run"] == "small"]["share"].tolist() == pytest.approx([0.1, 0.3, 0.6])
    assert records[records["run"] == "big"]["count"].tolist() == trained.validation_dataset_histogram.hist
    assert data_of(spec, rules) == [
        {"run": "big", "quantile_99": trained.quantile_99},
        {"run": "small", "quantile_99": 0.26},
    ]


def test_histograms_without_bins_or_rules_say_so_or_leave_the_empty_layer_out() -> None:
    failed = TrainingResult(status="FAILURE")
    assert _note(spec_of(histogram_overlay([]))) == "No validation histograms to draw"
    assert _note(spec_of(histogram_overlay({"A": failed, "B": failed}))) == "No validation histograms to draw"
    assert _note(spec_of(validation_histogram(failed))) == "No validation histogram to draw"
    # A threshold on a run without bins: its rule alone.
    (rule,) = layers(spec_of(validation_histogram(failed, threshold=0.3)))
    assert mark_of(rule)["type"] == "rule"
    # Runs with bins but no q99: the bars alone, no empty rules layer.
    bins = Histogram(hist=[1, 2], bin_edges=[0, 1, 2])
    bare = TrainingResult(status="SUCCESS", validation_dataset_histogram=bins)
    spec = spec_of(histogram_overlay({"A": bare, "B": failed}))
    (bars,) = layers(spec)
    assert mark_of(bars)["type"] == "bar"


def _daily(counts: list[int], first: str = "2024-01-01", days: int = 1) -> pd.DataFrame:
    starts = pd.date_range(first, periods=len(counts), freq=f"{days}D", tz="UTC")
    return pd.DataFrame({"day": starts, "end": starts + pd.Timedelta(days=days), "count": counts})


def test_coverage_timeline_shades_the_excluded_periods_over_the_daily_counts() -> None:
    excluded = [Period(start=datetime(2024, 1, 2, tzinfo=UTC), end=datetime(2024, 1, 3, 12, tzinfo=UTC))]
    spec = spec_of(coverage_timeline(
        _daily([120, 0, 75, 300]), excluded, datetime(2024, 1, 1), datetime(2024, 1, 5, tzinfo=UTC),
    ))

    bars, shading = layers(spec)
    assert mark_of(bars)["type"] == "bar" and mark_of(shading)["type"] == "rect"
    x = bars["encoding"]["x"]
    assert (x["field"], x["type"], x["title"]) == ("day", "temporal", "Time (UTC)")
    # The span as an expression, the same in both layers: DateTime objects made Vega-Lite warn of
    # conflicting domains (it converts them for x, not for x2) and give Vega a domain it cannot read.
    assert x["scale"] == {"type": "utc", "domain": {
        "expr": "[toDate('2024-01-01T00:00:00Z'), toDate('2024-01-05T00:00:00Z')]"}}
    assert shading["encoding"]["x"]["scale"] == x["scale"]
    assert bars["encoding"]["y"]["title"] == "Connections per day"
    tooltip = bars["encoding"]["tooltip"]
    assert [tip["title"] for tip in tooltip] == ["From (UTC)", "Until (UTC)", "Connections"]
    assert tooltip[0]["timeUnit"].startswith("utc")
    assert [(record["day"], record["count"]) for record in data_of(spec, bars)] == [
        ("2024-01-01T00:00:00+00:00", 120),
        ("2024-01-02T00:00:00+00:00", 0),
        ("2024-01-03T00:00:00+00:00", 75),
        ("2024-01-04T00:00:00+00:00", 300),
    ]
    assert data_of(spec, shading) == [
        {"start": "2024-01-02T00:00:00+00:00", "end": "2024-01-03T12:00:00+00:00", "what": "Excluded"},
    ]


def test_coverage_timeline_names_longer_buckets_and_fills_in_a_missing_end() -> None:
    weekly = spec_of(coverage_timeline(_daily([7000, 6500], days=7)))
    assert layers(weekly)[0]["encoding"]["y"]["title"] == "Connections per 7 days"
    # Without a range, the buckets' own span: an empty shading layer then adds no extent to fit.
    assert layers(weekly)[0]["encoding"]["x"]["scale"]["domain"] == {
        "expr": "[toDate('2024-01-01T00:00:00Z'), toDate('2024-01-15T00:00:00Z')]"}

    without_end = spec_of(coverage_timeline(_daily([5, 6]).drop(columns="end")))
    bars = layers(without_end)[0]
    assert [record["end"] for record in data_of(without_end, bars)] == [
        "2024-01-02T00:00:00+00:00", "2024-01-03T00:00:00+00:00",
    ]
    assert bars["encoding"]["y"]["title"] == "Connections per day"


def test_coverage_timeline_without_buckets_says_its_axes() -> None:
    excluded = [Period(start=datetime(2024, 1, 2, tzinfo=UTC), end=datetime(2024, 1, 3, tzinfo=UTC))]
    spec = spec_of(coverage_timeline(_daily([]), excluded))
    bars, shading = layers(spec)
    # No counts have no extent: the count axis is said, the time axis spans the excluded period.
    assert bars["encoding"]["y"]["scale"] == {"domain": [0, 1]}
    assert bars["encoding"]["x"]["scale"]["domain"] == {
        "expr": "[toDate('2024-01-02T00:00:00Z'), toDate('2024-01-03T00:00:00Z')]"}
    assert len(data_of(spec, shading)) == 1
    assert _note(spec_of(coverage_timeline(_daily([])))) == "No connections to draw"
