"""The analysis helpers on what the reference server really returns, over real HTTP."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timedelta

import numpy as np
import pytest

from ueba_api import UebaClient
from ueba_api.charts import validation_histogram
from ueba_api.coverage import connections_per_day
from ueba_api.frames import histogram_frame, training_history
from ueba_api.limits import MAX_HISTOGRAM_BINS
from ueba_api.models import Dataset, TimeRange, TrainingResult, TrainingStatus
from ueba_api.quality import HintKind, quality_hints, share_above, threshold_for_share
from ueba_api.review import reading_at_share, reading_at_threshold
from ueba_server.launch import RunningServer

from .vega import data_of, layers, spec_of

TRAINING_TIMEOUT_S = 90


def _data_span(api: UebaClient) -> tuple[datetime, datetime]:
    details = {detail.k: detail.v for detail in api.get_status().status_details}
    return (
        datetime.fromisoformat(details["connections_first"]),
        datetime.fromisoformat(details["connections_last"]),
    )


def test_daily_counts_add_up_to_the_count_of_the_whole_range(api: UebaClient) -> None:
    _, last = _data_span(api)
    start, end = (last - timedelta(days=40)).replace(hour=7), last + timedelta(seconds=1)

    daily = connections_per_day(api, start, end)

    assert len(daily) == 41
    assert daily["count"].sum() == api.count_connections(TimeRange(start=start, end=end)) > 0


@pytest.fixture(scope="module")
def trained_dataset(reference_server: RunningServer) -> Iterator[Dataset]:
    with reference_server.client() as api:
        first, last = _data_span(api)
        whole_span = TimeRange(start=first, end=last + timedelta(seconds=1))
        dataset = Dataset(comment="analysis tests", time_range_settings=whole_span)
        dataset_id = api.create_dataset(dataset)
        try:
            api.train_dataset(dataset_id)
            deadline = time.monotonic() + TRAINING_TIMEOUT_S
            while (trained := api.get_dataset(dataset_id)).latest_result.status == TrainingStatus.TRAINING:
                assert time.monotonic() < deadline, "the training did not finish in time"
                time.sleep(0.1)
            yield trained
        finally:
            api.delete_dataset(dataset_id)


@pytest.fixture(scope="module")
def result(trained_dataset: Dataset) -> TrainingResult:
    result = trained_dataset.latest_result
    assert result.status == TrainingStatus.SUCCESS, result.error_details
    return result


def test_the_servers_q99_sits_where_its_histogram_puts_one_percent(result: TrainingResult) -> None:
    bins = histogram_frame(result)
    widest_bin = (bins["bin_end"] - bins["bin_start"]).max()

    assert threshold_for_share(result, 0.01) == pytest.approx(result.quantile_99, abs=widest_bin)
    assert threshold_for_share(result, 0.001) == pytest.approx(result.quantile_999, abs=widest_bin)
    assert share_above(result, result.quantile_99) == pytest.approx(0.01, abs=bins["share"].max())


def test_history_and_histogram_chart_carry_the_servers_numbers(
    trained_dataset: Dataset, result: TrainingResult
) -> None:
    [row] = training_history(trained_dataset).to_dict("records")
    assert row["run_label"] == "analysis tests #1" and row["status"] == "SUCCESS"
    assert row["num_connections"] == result.num_connections
    assert row["final_validation_loss"] == result.validation_dataset_loss[-1]
    assert row["epochs"] == len(result.training_dataset_loss) > 0

    spec = spec_of(validation_histogram(result))
    bars, rules = layers(spec)
    assert [record["count"] for record in data_of(spec, bars)] == result.validation_dataset_histogram.hist
    assert sum(result.validation_dataset_histogram.hist) > 0
    assert {record["marker"]: record["loss"] for record in data_of(spec, rules)}["q99"] == result.quantile_99


def test_hints_on_a_real_result_speak_of_its_numbers(result: TrainingResult) -> None:
    hints = quality_hints(result, min_connections=result.num_connections + 1)

    assert HintKind.FAILED not in {hint.kind for hint in hints}
    [few] = [hint for hint in hints if hint.kind == HintKind.FEW_CONNECTIONS]
    assert f"{result.num_connections:,} connections" in few.message
    assert np.all(np.isfinite(result.validation_dataset_loss))


@pytest.mark.parametrize(("quantile", "share"), [("quantile_99", 0.01), ("quantile_999", 0.001)])
def test_the_threshold_explorer_agrees_with_the_servers_quantiles_within_its_stated_precision(
    api: UebaClient, trained_dataset: Dataset, quantile: str, share: float
) -> None:
    finest = api.get_dataset(trained_dataset.id, bin_count=MAX_HISTOGRAM_BINS).latest_result
    loss = getattr(finest, quantile)

    at_loss = reading_at_threshold(finest, loss)

    assert at_loss.bins == MAX_HISTOGRAM_BINS and at_loss.share_precision > 0
    # The truth lies within the stated ±, which may reach exactly to a bin's edge: allow float rounding.
    assert abs(at_loss.share - share) <= at_loss.share_precision + 1e-12
    # The other way, the explorer's loss for the share has that share above it too (a quantile in a gap
    # between two connections is any loss in the gap, so the loss itself is not compared).
    assert share_above(finest, reading_at_share(finest, share).threshold) == pytest.approx(share)
