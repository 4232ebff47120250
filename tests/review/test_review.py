"""The review pages' pure helpers, on API objects parsed from wire payloads as the client reads them."""

from __future__ import annotations

import io
import json
import math

import pandas as pd
import pytest

from ueba_api import frames, review
from ueba_api.models import Dataset, Histogram, InternalStatus, TrainingResult

WIRE_DATASET = {
    "id": "5bf77342-221c-11ee-be56-0242ac120002",
    "comment": "Q1 baseline\nsecond line is not part of a label",
    "is_active": False,
    "time_range_settings": {"start": "2024-01-01T00:00:00Z", "end": "2024-04-01T00:00:00Z", "exclude": []},
    "training_results": [
        {
            "created": "2024-04-01T10:00:00Z",
            "feature_config_name": "v3",
            "status": "FAILURE",
            "error_code": "REQUIRED_VALUE_MISSING",
            "error_details": "Not enough connections to train: 3120 (at least 5000 needed)",
            "num_connections": 3120,
        },
        {
            "created": "2024-04-02T08:15:00.5Z",
            "feature_config_name": "v3",
            "status": "SUCCESS",
            "num_connections": 45123,
            "mean": 0.0,
            "std": 0.02,
            "quantile_99": 0.125,
            "quantile_999": 0.18,
            "training_dataset_loss": [0.2, 0.1, 0.05],
            "validation_dataset_loss": [0.25, 0.12, 0.06],
            "validation_dataset_histogram": {"hist": [3, 1], "bin_edges": [0.0, 0.1, 0.2]},
        },
        {
            "created": "2024-04-03T08:00:00Z",
            "feature_config_name": "v4",
            "status": "SUCCESS",
            "num_connections": 50000,
            "mean": 0.04,
            "std": 0.01,
            "quantile_99": 0.1,
            "quantile_999": 0.15,
            "training_dataset_loss": [0.2, 0.1],
            "validation_dataset_loss": [0.3, 0.2],
        },
    ],
}


@pytest.fixture
def dataset() -> Dataset:
    return Dataset.model_validate_json(json.dumps(WIRE_DATASET))


def result(**fields) -> TrainingResult:
    return TrainingResult.model_validate({"status": "SUCCESS", **fields})


def test_side_by_side_puts_each_run_in_a_column_with_the_difference(dataset: Dataset) -> None:
    history = frames.training_history(dataset)
    table = review.side_by_side(history.iloc[[1, 2]])
    assert list(table.columns) == ["A: Q1 baseline #2", "B: Q1 baseline #3", "B − A", "B vs A (%)"]
    assert table.loc["Connections"].tolist()[:3] == [45123, 50000, 50000 - 45123]
    assert table.loc["Epochs"].tolist()[:2] == [3, 2]
    assert table.loc["Final validation loss"].tolist()[:2] == [0.06, 0.2]
    assert table.loc["Validation loss q999"].tolist()[:3] == pytest.approx([0.18, 0.15, -0.03])
    # In percent, as the column says.
    assert table.loc["Validation loss q99", "B vs A (%)"] == pytest.approx(-20.0)
    assert table.loc["Epochs", "B vs A (%)"] == pytest.approx(100 * (2 / 3 - 1))
    # A mean of 0 has no relative change: left empty rather than infinite.
    assert math.isnan(table.loc["Validation loss mean", "B vs A (%)"])
    assert table.dtypes.unique().tolist() == ["float64"]


def test_side_by_side_leaves_missing_numbers_empty(dataset: Dataset) -> None:
    table = review.side_by_side(frames.training_history(dataset).iloc[[0, 1]])
    assert table.loc["Connections"].tolist()[:2] == [3120, 45123]
    assert math.isnan(table.loc["Validation loss mean", "A: Q1 baseline #1"])
    assert math.isnan(table.loc["Validation loss mean", "B − A"])


def displayed(styler: pd.io.formats.style.Styler) -> pd.DataFrame:
    """The text each cell shows (what Streamlit and Jupyter draw), indexed like the styled table."""
    # Tab-separated: a header line, a line naming the index, then one line per row.
    lines = styler.to_string(delimiter="\t").splitlines()[2:]
    rows = {name: cells for name, *cells in (line.split("\t") for line in lines)}
    assert len(rows) == len(styler.data)
    return pd.DataFrame.from_dict(rows, orient="index", columns=styler.data.columns)


def test_styled_side_by_side_formats_each_statistic_for_reading(dataset: Dataset) -> None:
    table = review.side_by_side(frames.training_history(dataset).iloc[[1, 2]])
    styler = review.styled_side_by_side(table)
    shown = displayed(styler)

    # The numbers beneath stay the API's.
    pd.testing.assert_frame_equal(styler.data, table)
    # Counts: thousands separators, no decimals; the difference signed.
    assert shown.loc["Connections"].tolist() == ["45,123", "50,000", "+4,877", "+10.81"]
    assert shown.loc["Epochs"].tolist() == ["3", "2", "-1", "-33.33"]
    # Losses: five significant digits, trailing zeros kept, so 0.02 does not pass for a rounder number.
    assert shown.loc["Validation loss std"].tolist() == ["0.020000", "0.010000", "-0.010000", "-50.00"]
    assert shown.loc["Validation loss q999", "B − A"] == "-0.030000"
    # A relative change from 0 is missing, and reads as an em dash.
    assert shown.loc["Validation loss mean"].tolist() == ["0.0000", "0.040000", "+0.040000", "—"]


def test_styled_side_by_side_keeps_significant_digits_and_dashes_missing_values() -> None:
    runs = [
        result(num_connections=1_234_567, mean=0.0080596123, training_dataset_loss=[0.012345678]),
        result(num_connections=19_747, mean=0.0103641, training_dataset_loss=[0.00001234567]),
    ]
    dataset = Dataset.model_validate({"id": "d", "time_range_settings": {}})
    dataset.training_results.extend(runs)
    shown = displayed(review.styled_side_by_side(review.side_by_side(frames.training_history(dataset))))

    assert shown.loc["Connections"].tolist() == ["1,234,567", "19,747", "-1,214,820", "-98.40"]
    assert shown.loc["Validation loss mean"].tolist()[:3] == ["0.0080596", "0.010364", "+0.0023045"]
    assert shown.loc["Final training loss"].tolist()[:3] == ["0.012346", "1.2346e-05", "-0.012333"]
    assert shown.loc["Validation loss q99"].tolist() == ["—", "—", "—", "—"]


def test_styled_side_by_side_gives_no_change_no_sign(dataset: Dataset) -> None:
    same_run_twice = frames.training_history(dataset).iloc[[1, 1]]
    shown = displayed(review.styled_side_by_side(review.side_by_side(same_run_twice)))

    assert shown.loc["Connections", ["B − A", "B vs A (%)"]].tolist() == ["0", "0"]
    assert shown.loc["Validation loss q99", ["B − A", "B vs A (%)"]].tolist() == ["0", "0"]


def test_side_by_side_needs_one_row_per_name(dataset: Dataset) -> None:
    with pytest.raises(ValueError, match="expected 2 runs to compare, got 3"):
        review.side_by_side(frames.training_history(dataset))


def test_default_review_run_is_the_latest_success() -> None:
    failed, succeeded, training = result(status="FAILURE"), result(), result(status="TRAINING")
    assert review.default_review_index([failed, succeeded, training]) == 1
    assert review.default_review_index([succeeded, failed]) == 0
    assert review.default_review_index([failed, training]) == 1
    assert review.default_review_index([]) is None


def test_default_pair_is_the_two_latest_successes_older_first() -> None:
    def at(day: int, status: str = "SUCCESS") -> TrainingResult:
        return result(status=status, created=f"2024-04-{day:02d}T00:00:00Z")

    # Runs come per dataset, so list order is not time order.
    assert review.default_pair([at(5), at(1), at(9, "FAILURE"), at(7), at(3)]) == (0, 3)
    assert review.default_pair([at(1), at(2, "FAILURE"), at(3, "TRAINING")]) == (1, 2)
    assert review.default_pair([at(1), at(2)]) == (0, 1)
    with pytest.raises(ValueError, match="at least two runs, got 1"):
        review.default_pair([at(1)])


def test_is_training_looks_at_the_latest_run(dataset: Dataset) -> None:
    assert not review.is_training(dataset)
    dataset.training_results.append(result(status="TRAINING"))
    assert review.is_training(dataset)
    assert not review.is_training(Dataset.model_validate({"time_range_settings": {}}))


def test_finished_message_says_the_outcome_and_the_error() -> None:
    assert review.finished_message("x #2", result(validation_dataset_loss=[0.3, 0.2])) == (
        "Training x #2 succeeded after 2 epochs."
    )
    failed = result(status="FAILURE", error_code="REQUIRED_VALUE_MISSING", error_details="too few")
    assert review.finished_message("x #1", failed) == (
        "Training x #1 failed (REQUIRED_VALUE_MISSING: too few)."
    )
    assert review.finished_message("x #1", result(status="FAILURE")) == "Training x #1 failed."
    assert review.finished_message("x #3", result(status="PAUSED")) == (
        "Training x #3 ended with status PAUSED."
    )


def test_labels_for_pickers(dataset: Dataset) -> None:
    runs = frames.training_runs(dataset)
    assert review.run_choice_label(runs[1]) == "Q1 baseline #2 · SUCCESS · 2024-04-02 08:15 UTC"
    assert review.run_choice_label(runs[1], created=False) == "Q1 baseline #2 · SUCCESS"
    assert review.dataset_choice_label(dataset) == "Q1 baseline · 5bf77342-221c-11ee-be56-0242ac120002"
    assert review.dataset_choice_label(Dataset.model_validate({"id": "d1", "time_range_settings": {}})) == (
        "No comment · d1"
    )


def test_history_downloads_keep_the_api_numbers(dataset: Dataset) -> None:
    table = review.history_table(frames.training_history(dataset))
    assert list(table.columns) == [
        # q99 and q999 first after which run it is: a narrow window's scroll never hides them.
        "run", "created (UTC)", "status", "quantile_99", "quantile_999", "mean", "std",
        "final_validation_loss", "final_training_loss", "epochs", "num_connections", "feature_config_name",
        "error_code", "error_details",
    ]
    records = json.loads(review.history_json(table))
    assert [record["created (UTC)"] for record in records] == [
        "2024-04-01T10:00:00Z", "2024-04-02T08:15:00.5Z", "2024-04-03T08:00:00Z"]
    assert records[0]["error_details"] == WIRE_DATASET["training_results"][0]["error_details"]
    assert records[0]["mean"] is None
    assert records[1]["quantile_999"] == 0.18
    assert records[1]["final_training_loss"] == 0.05
    csv = pd.read_csv(io.BytesIO(review.history_csv(table)), dtype={"created (UTC)": str})
    assert csv["num_connections"].tolist() == [3120, 45123, 50000]
    assert csv["quantile_99"].tolist()[1:] == [0.125, 0.1]
    # RFC 3339 UTC with Z, as on the wire (models.format_utc), not pandas' "2024-04-01 10:00:00+00:00".
    assert csv["created (UTC)"].tolist() == [
        "2024-04-01T10:00:00Z", "2024-04-02T08:15:00.5Z", "2024-04-03T08:00:00Z"]


def test_the_json_download_keeps_every_digit_the_api_gave() -> None:
    q99 = 0.012345678901234567  # 17 significant digits; pandas' to_json would write 0.0123456789
    dataset = Dataset.model_validate({"id": "d", "time_range_settings": {}, "training_results": [
        {"status": "SUCCESS", "quantile_99": q99, "num_connections": 6000}]})
    table = review.history_table(frames.training_history(dataset))
    assert json.loads(review.history_json(table))[0]["quantile_99"] == q99


def test_history_downloads_leave_a_missing_time_empty() -> None:
    dataset = Dataset.model_validate({"id": "d", "time_range_settings": {},
                                      "training_results": [{"status": "TRAINING"}]})
    table = review.history_table(frames.training_history(dataset))
    assert json.loads(review.history_json(table))[0]["created (UTC)"] is None
    assert review.history_csv(table).decode().splitlines()[1].split(",")[:3] == ["1", "", "TRAINING"]


def wire_dataset(dataset_id: str, *, active: bool = False, created: str | None = None,
                 runs: list[dict] | None = None, last_training: str | None = None) -> Dataset:
    return Dataset.model_validate({"id": dataset_id, "is_active": active, "created": created,
                                   "last_training": last_training, "time_range_settings": {},
                                   "training_results": runs or []})


def run_at(day: int, status: str = "SUCCESS") -> dict:
    return {"status": status, "created": f"2024-05-{day:02d}T12:00:00Z"}


def test_default_dataset_is_the_active_one_else_the_last_trained_else_the_newest() -> None:
    newest = wire_dataset("newest", created="2024-06-01T00:00:00Z")
    trained_late = wire_dataset("trained late", created="2024-01-01T00:00:00Z",
                                runs=[run_at(1), run_at(20, "FAILURE")])
    trained_early = wire_dataset("trained early", created="2024-02-01T00:00:00Z", runs=[run_at(10)])
    active = wire_dataset("active", active=True, created="2024-01-01T00:00:00Z", runs=[run_at(2)])

    assert review.default_dataset_id([newest, trained_early, active, trained_late]) == "active"
    # Any run counts, a failed one too: it is the latest work on that dataset.
    assert review.default_dataset_id([trained_early, newest, trained_late]) == "trained late"
    # A server that lists no runs but says when the dataset was last trained.
    summary_only = wire_dataset("summary only", last_training="2024-05-30T00:00:00Z")
    assert review.default_dataset_id([trained_late, summary_only, newest]) == "summary only"
    older = wire_dataset("older", created="2024-03-01T00:00:00Z")
    assert review.default_dataset_id([newest, older]) == "newest"
    assert review.default_dataset_id([older, newest]) == "newest"
    # No times at all: the last listed (servers list oldest first).
    assert review.default_dataset_id([wire_dataset("a"), wire_dataset("b")]) == "b"
    assert review.default_dataset_id([]) is None


def test_follow_training_announces_a_watched_run_once_it_ends() -> None:
    running = wire_dataset("d", runs=[run_at(1), run_at(2, "TRAINING")])
    # First look: the run is TRAINING, so it is watched and polled; nothing ended.
    first = review.follow_training({}, running)
    assert first.watched == {"d": 2}
    assert [run.label for run in first.training] == ["d #2"] and first.ended == []
    # Still training: the same.
    assert review.follow_training(first.watched, running) == first

    done = wire_dataset("d", runs=[run_at(1), run_at(2, "FAILURE")])
    ended = review.follow_training(first.watched, done)
    assert [(run.label, run.number) for run in ended.ended] == [("d #2", 2)]
    assert ended.watched == {} and ended.training == []
    # Announced once: the next look finds nothing.
    assert review.follow_training(ended.watched, done) == review.FollowUp({}, [], [])


def test_follow_training_covers_a_run_that_ended_before_any_look_and_an_emptied_history() -> None:
    # Started by this session (run 2 of 1 so far), it ended before a page saw it TRAINING.
    quick = wire_dataset("d", runs=[run_at(1), run_at(2)])
    assert [run.number for run in review.follow_training({"d": 2}, quick).ended] == [2]
    # The range was changed meanwhile, which empties the history: nothing to announce, nothing watched.
    emptied = review.follow_training({"d": 2}, wire_dataset("d"))
    assert emptied == review.FollowUp({}, [], [])
    # A newer run started elsewhere while an older one was watched: the older ended, the newer is watched.
    newer = wire_dataset("d", runs=[run_at(1), run_at(2), run_at(3, "TRAINING")])
    follow = review.follow_training({"d": 2}, newer)
    assert [run.number for run in follow.ended] == [2] and follow.watched == {"d": 3}


def test_follow_training_keeps_other_watches_unless_the_list_is_complete() -> None:
    watched = {"gone": 1, "other": 4}
    listed = wire_dataset("d", runs=[run_at(1, "TRAINING")])
    assert review.follow_training(watched, listed).watched == {"gone": 1, "other": 4, "d": 1}
    # All datasets listed: a watched one missing was deleted, and is forgotten unannounced.
    other = wire_dataset("other", runs=[run_at(day) for day in range(1, 4)] + [run_at(4, "TRAINING")])
    follow = review.follow_training(watched, [listed, other], complete=True)
    assert follow.watched == {"d": 1, "other": 4} and follow.ended == []
    assert watched == {"gone": 1, "other": 4}, "the caller's mapping is left as it was"


HISTOGRAM = {"hist": [60, 30, 10], "bin_edges": [0.0, 0.1, 0.2, 0.4]}


def test_threshold_readings_go_both_ways() -> None:
    run = result(validation_dataset_histogram=HISTOGRAM, quantile_99=0.35)
    assert review.default_threshold(run) == 0.35

    at_edge = review.reading_at_threshold(run, 0.2)
    assert (at_edge.threshold, at_edge.share, at_edge.validation) == (0.2, pytest.approx(0.10), 100)
    assert at_edge.flagged == pytest.approx(10)
    # On an edge the histogram's cumulative count is exact.
    assert (at_edge.share_precision, at_edge.threshold_precision, at_edge.bins) == (0.0, 0.0, 3)
    assert "3-bin histogram" in at_edge.precision_note()
    # In the middle of the last bin (10% of the connections, 0.2 wide): half the bin either way.
    middle = review.reading_at_threshold(run, 0.3)
    assert (middle.share_precision, middle.threshold_precision) == (pytest.approx(0.05), pytest.approx(0.1))
    assert middle.sentence() == (
        "**5.00%** ± 5.00% of the validation connections have a loss above **0.3** ± 0.1 "
        "(about 5 of 100).")
    # A quarter into the bin: the farther edge is three quarters of the bin away.
    quarter = review.reading_at_threshold(run, 0.25)
    assert (quarter.share_precision, quarter.threshold_precision) == (
        pytest.approx(0.075), pytest.approx(0.15))

    # 5% above: halfway through the last bin (its 10 connections spread evenly over 0.2 to 0.4).
    by_share = review.reading_at_share(run, 0.05)
    assert by_share.threshold == pytest.approx(0.3)
    assert by_share.share == 0.05 and by_share.flagged == pytest.approx(5)
    assert review.reading_at_threshold(run, by_share.threshold).share == pytest.approx(0.05)


def test_without_q99_the_threshold_starts_where_one_percent_lie_above() -> None:
    run = result(validation_dataset_histogram=HISTOGRAM)
    assert review.default_threshold(run) == pytest.approx(0.2 + 0.2 * 0.9)
    assert review.reading_at_threshold(run, review.default_threshold(run)).share == pytest.approx(0.01)


def test_runs_snapshot_changes_when_a_training_starts_or_ends_or_a_dataset_goes() -> None:
    training = wire_dataset("a", runs=[run_at(1), run_at(2, "TRAINING")])
    other = wire_dataset("b")
    snapshot = review.runs_snapshot([training, other])
    assert snapshot == [("a", 2, "TRAINING"), ("b", 0, None)]
    same_again = wire_dataset("a", runs=[run_at(1), run_at(2, "TRAINING")])
    assert review.runs_snapshot([same_again, other]) == snapshot
    assert review.runs_snapshot([wire_dataset("a", runs=[run_at(1), run_at(2)]), other]) != snapshot
    assert review.runs_snapshot([training]) != snapshot


def test_chart_labels_keep_what_tells_runs_apart_at_the_start(dataset: Dataset) -> None:
    runs = frames.training_runs(dataset)
    assert [run.label for run in review.side_labelled(runs[1:])] == ["A: Q1 baseline #2", "B: Q1 baseline #3"]
    assert [run.label for run in review.numbered(runs)] == ["#1", "#2", "#3"]
    assert review.numbered(runs)[1].result is runs[1].result
    other = frames.training_runs(Dataset.model_validate({"id": "other", "time_range_settings": {},
                                                          "training_results": [{"status": "SUCCESS"}]}))
    with pytest.raises(ValueError, match="runs of one dataset"):
        review.numbered([runs[0], *other])
    with pytest.raises(ValueError, match="expected 2 runs, got 3"):
        review.side_labelled(runs)


def test_precision_is_half_the_bin_the_threshold_falls_in_and_shows_enough_decimals() -> None:
    # 1,000 equal bins of 1 connection each over 0..1: each bin holds 0.1% and is 0.001 wide.
    fine = {"hist": [1] * 1000, "bin_edges": [i / 1000 for i in range(1001)]}
    reading = review.reading_at_threshold(Histogram.model_validate(fine), 0.9905)
    assert reading.share == pytest.approx(0.0095)
    assert (reading.share_precision, reading.threshold_precision) == (pytest.approx(0.0005),
                                                                       pytest.approx(0.0005))
    assert reading.sentence().startswith("**0.95%** ± 0.05% of the validation connections")
    # Bins of 0.004% each: the share gets the decimals its ± needs.
    heavy_end = {"hist": [1] * 999 + [24_001], "bin_edges": fine["bin_edges"]}
    assert review.reading_at_threshold(Histogram.model_validate(heavy_end), 0.5005).sentence().startswith(
        "**97.998%** ± 0.002% of the validation connections")
    outside = review.reading_at_threshold(Histogram.model_validate(fine), 2.0)
    assert (outside.share, outside.share_precision, outside.threshold_precision) == (0.0, 0.0, 0.0)


def test_a_listing_keeps_names_and_statuses_not_series(dataset: Dataset) -> None:
    [slim] = review.listed([dataset])
    assert [result.status for result in slim.training_results] == [
        result.status for result in dataset.training_results]
    assert slim.comment == dataset.comment and slim.id == dataset.id
    assert all(not result.training_dataset_loss and not result.validation_dataset_loss
               and result.validation_dataset_histogram is None and result.training_log is None
               for result in slim.training_results)
    assert any(result.training_dataset_loss for result in dataset.training_results), "the original is kept"
    assert [run.label for run in frames.training_runs([slim])] == [
        run.label for run in frames.training_runs([dataset])]


INTERNAL = {"training_status": "TRAINING", "instances": [
    {"id": "17", "status": "TRAINING", "created": "2024-04-02T08:15:00.5Z"},
    {"id": "9", "status": "SUCCESS", "created": "2024-04-01T10:00:00Z"},
    {"id": "12", "status": "FAILURE", "created": "2024-04-01T10:00:00Z"},
]}


def test_the_servers_run_ids_from_the_internal_status() -> None:
    internal = InternalStatus.model_validate(INTERNAL)
    assert review.server_run_id(internal, result(created="2024-04-02T08:15:00.5Z")) == "17"
    # Two runs created at the same time: which is which cannot be told, so neither is named.
    assert review.server_run_id(internal, result(created="2024-04-01T10:00:00Z")) is None
    assert review.server_run_id(internal, result(created="2024-05-01T10:00:00Z")) is None
    assert review.server_run_id(None, result(created="2024-04-02T08:15:00.5Z")) is None


def test_a_listing_is_old_once_a_training_ended_that_it_does_not_know() -> None:
    internal = InternalStatus.model_validate(INTERNAL)
    runs = [{"status": "SUCCESS", "created": "2024-04-01T10:00:00Z"},
            {"status": "FAILURE", "created": "2024-04-01T10:00:00Z"}]
    listed = [wire_dataset("a", runs=runs[:1]), wire_dataset("b", runs=runs[1:])]
    # Run 17 still trains: a listing need not know it (the page fetches its own dataset).
    assert review.finished_runs_unknown(listed, internal) == frozenset()
    ended = InternalStatus.model_validate(
        {"instances": [*INTERNAL["instances"][1:], {"id": "17", "status": "SUCCESS",
                                                     "created": "2024-04-02T08:15:00.5Z"}]})
    assert review.finished_runs_unknown(listed, ended) == {"17"}
    newer = wire_dataset("c", runs=[{"status": "SUCCESS", "created": "2024-04-02T08:15:00.5Z"}])
    assert review.finished_runs_unknown([*listed, newer], ended) == frozenset()
    assert review.finished_runs_unknown([], None) == frozenset(), "no /status/internal: nothing to compare"
