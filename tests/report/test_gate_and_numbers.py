"""The pure rules behind `ueba gate` and the report's numbers: gate checks, run picking, dataset span and the
threshold table."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from ueba_api import gate
from ueba_api.models import Dataset, Histogram, Period, TimeRange, TrainingResult
from ueba_api.report_data import dataset_span, threshold_table

T0 = datetime(2026, 1, 1, tzinfo=UTC)
DAY = timedelta(days=1)


def result(q99=0.02, final_validation=0.01, status="SUCCESS", connections=50_000, **more) -> TrainingResult:
    falling = [0.05, 0.03, 0.02, 0.015, 0.0125, 0.0115, 0.011, 0.0105, 0.0102, 0.0101]
    validation = [loss * final_validation / falling[-1] for loss in falling]
    return TrainingResult(
        status=status,
        quantile_99=q99,
        quantile_999=q99 * 1.5,
        mean=q99 / 4,
        std=q99 / 8,
        num_connections=connections,
        training_dataset_loss=falling,
        validation_dataset_loss=validation,
        validation_dataset_histogram=Histogram(hist=[900, 90, 10], bin_edges=[0, 0.01, 0.02, 0.04]),
        **more,
    )


def test_a_good_run_passes_alone_and_against_a_similar_baseline():
    assert gate.judge(result()).passed
    verdict = gate.judge(result(q99=0.022), baseline=result(q99=0.02))
    assert verdict.passed
    assert {check.name: check.value for check in verdict.checks}["q99_ratio"] == pytest.approx(1.1)


def test_a_worse_run_fails_the_ratio_it_breaks():
    verdict = gate.judge(
        result(q99=0.03, final_validation=0.0101), baseline=result(q99=0.02, final_validation=0.01)
    )
    assert [check.name for check in verdict.failures] == ["q99_ratio"]
    assert "1.500× the baseline's 0.02" in verdict.failures[0].message
    loose = gate.judge(result(q99=0.03), baseline=result(q99=0.02), rules=gate.GateRules(max_q99_ratio=1.6))
    assert loose.passed


def test_loss_ratio_uses_the_last_known_loss():
    worse = result(final_validation=0.013)
    worse.validation_dataset_loss.append(math.nan)  # the server sent null for the last epoch
    worse.training_dataset_loss.append(0.0100)
    verdict = gate.judge(
        worse, baseline=result(final_validation=0.01), rules=gate.GateRules(max_warnings=None)
    )
    assert [check.name for check in verdict.failures] == ["loss_ratio"]
    assert {check.name: check.value for check in verdict.checks}["loss_ratio"] == pytest.approx(1.3)


def test_failed_runs_and_warnings_fail():
    failed = gate.judge(result(status="FAILURE", error_code="NOT_ENOUGH_CONNECTIONS"))
    assert [check.name for check in failed.failures] == ["status"]
    assert "NOT_ENOUGH_CONNECTIONS" in failed.failures[0].message
    few = result(connections=6_000)  # below twice the engine's minimum: a warning hint
    assert [check.name for check in gate.judge(few).failures] == ["warnings"]
    assert gate.judge(few, rules=gate.GateRules(max_warnings=1)).passed
    assert gate.judge(few, rules=gate.GateRules(max_warnings=None)).passed
    baseline_failed = gate.judge(result(), baseline=result(status="FAILURE"))
    assert [check.name for check in baseline_failed.failures] == ["baseline_status"]


def test_missing_numbers_fail_rather_than_pass():
    verdict = gate.judge(result(q99=0.02), baseline=result().model_copy(update={"quantile_99": None}))
    assert [check.name for check in verdict.failures] == ["q99_ratio"]
    assert "the baseline has none" in verdict.failures[0].message


@pytest.mark.parametrize("rules", [{"max_warnings": -1}, {"max_q99_ratio": 0}, {"max_loss_ratio": math.inf}])
def test_bad_rules_name_their_field(rules):
    with pytest.raises(ValueError, match=f"^{next(iter(rules))}: "):
        gate.GateRules(**rules)


def dataset(*results: TrainingResult, active: bool = False) -> Dataset:
    return Dataset(
        id="d1",
        is_active=active,
        time_range_settings=TimeRange(start=T0, end=T0 + 10 * DAY),
        training_results=list(results),
    )


def test_picking_runs_and_the_active_model():
    runs = dataset(result(q99=1), result(q99=2), result(status="FAILURE"), active=True)
    assert gate.pick_run(runs, None).number == 3
    assert gate.pick_run(runs, 1).result.quantile_99 == 1
    with pytest.raises(ValueError, match="runs 1 to 3, not 4"):
        gate.pick_run(runs, 4)
    with pytest.raises(ValueError, match="not been trained"):
        gate.pick_run(dataset(), None)
    assert gate.active_model([dataset(result()), runs]).number == 2  # the latest SUCCESS of the active one
    assert gate.active_model([dataset(result())]) is None


def test_dataset_span_counts_overlapping_and_outside_exclusions_once():
    time_range = TimeRange(
        start=T0,
        end=T0 + 10 * DAY,
        exclude=[
            Period(start=T0 + 2 * DAY, end=T0 + 4 * DAY),
            Period(start=T0 + 3 * DAY, end=T0 + 5 * DAY),
            Period(start=T0 - 5 * DAY, end=T0 + DAY),
            Period(start=T0 + 20 * DAY, end=T0 + 21 * DAY),
        ],
    )
    span = dataset_span(time_range, 7_000)
    assert (span.range_days, span.excluded_days, span.included_days) == (10, 4, 6)
    assert span.connections_per_day == pytest.approx(7_000 / 6)
    assert [exclusion.days for exclusion in span.exclusions] == [2, 2, 6, 1]
    open_ended = dataset_span(TimeRange(start=T0), 10)
    assert open_ended.range_days is None and open_ended.connections_per_day is None


def test_threshold_table_rows_and_alerts_a_day():
    run = result(q99=0.02)  # histogram: 900 in [0, .01), 90 in [.01, .02), 10 in [.02, .04)
    rows = threshold_table(run, [0.01, 0.03], connections_per_day=2_000)
    assert [row.name for row in rows] == ["q99", "q999", "mean + 3·std", "threshold 0.01", "threshold 0.03"]
    by_name = {row.name: row for row in rows}
    assert by_name["q99"].share == pytest.approx(0.01)  # exactly the 10 in the last bin lie above 0.02
    assert by_name["threshold 0.01"].share == pytest.approx(0.1)
    assert by_name["threshold 0.03"].share == pytest.approx(0.005)  # half the last bin
    assert by_name["threshold 0.03"].validation_above == pytest.approx(5)
    assert by_name["threshold 0.01"].alerts_per_day == pytest.approx(200)
    assert threshold_table(run)[0].alerts_per_day is None
    assert threshold_table(result().model_copy(update={"validation_dataset_histogram": None})) == []
