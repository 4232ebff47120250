from __future__ import annotations

import pandas as pd
import pytest

from ueba_api.frames import (
    DATASET_COLUMNS,
    HISTOGRAM_COLUMNS,
    HISTORY_COLUMNS,
    LOSS_COLUMNS,
    UTC_DTYPE,
    datasets_table,
    histogram_frame,
    loss_frame,
    training_history,
    training_runs,
    with_connections,
    with_utc_labels,
)
from ueba_api.models import Dataset, DatasetList, Histogram, TimeRange, TrainingResult

TRAINED_ID = "5bf77342-221c-11ee-be56-0242ac120002"
TRAINING_ID = "9d1c43e0-5a7b-4c1e-9f8e-2b6a0c3d4e5f"
UNTRAINED_ID = "0f0e0d0c-0b0a-4909-8807-060504030201"


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def assert_schema(frame: pd.DataFrame, columns: dict) -> None:
    assert list(frame.columns) == list(columns)
    assert {name: str(dtype) for name, dtype in frame.dtypes.items()} == {
        name: str(pd.Series(dtype=dtype).dtype) for name, dtype in columns.items()
    }


def test_datasets_table_has_one_row_per_dataset_with_the_api_values(dataset_list: DatasetList) -> None:
    table = datasets_table(dataset_list, connections={TRAINED_ID: 45123, UNTRAINED_ID: 0})

    assert_schema(table, DATASET_COLUMNS)
    assert table["id"].tolist() == [TRAINED_ID, TRAINING_ID, UNTRAINED_ID]
    trained, training, untrained = (table.iloc[row] for row in range(3))
    assert trained["comment"] == "Q1 2024 baseline"
    assert bool(trained["active"]) and bool(trained["use_for_inference_once_trained"])
    assert trained["start"] == utc("2024-01-01") and trained["end"] == utc("2024-04-01")
    assert trained["exclusions"] == 2 and trained["runs"] == 2
    assert trained["latest_status"] == "SUCCESS"
    assert trained["last_training"] == utc("2024-04-02T08:40:12")
    assert trained["created"] == utc("2024-04-01T09:55:00") and trained["updated_by"] == "alice"
    assert table["connections"].tolist() == [45123, pd.NA, 0]
    # The second dataset's times came with "+00:00" and its exclusions as null.
    assert training["start"] == utc("2024-04-01") and training["exclusions"] == 0
    assert training["latest_status"] == "TRAINING" and pd.isna(training["comment"])
    assert untrained["runs"] == 0 and pd.isna(untrained["latest_status"])
    assert pd.isna(untrained["last_training"]) and pd.isna(untrained["updated"])


def test_datasets_table_accepts_a_plain_list_and_leaves_unknown_counts_empty(
    dataset_list: DatasetList,
) -> None:
    table = datasets_table(dataset_list.items)

    assert table["connections"].isna().all()
    assert len(table) == 3


def test_counts_given_to_a_table_built_without_them_make_the_same_table(dataset_list: DatasetList) -> None:
    counts = {TRAINED_ID: 45123, UNTRAINED_ID: 0}
    built_once = datasets_table(dataset_list)

    pd.testing.assert_frame_equal(with_connections(built_once, counts), datasets_table(dataset_list, counts))
    assert built_once["connections"].isna().all(), "the table built once is left as it was"
    pd.testing.assert_frame_equal(with_connections(built_once, {}), built_once)


def test_datasets_table_of_nothing_has_the_same_columns_and_dtypes() -> None:
    table = datasets_table([])

    assert table.empty
    assert_schema(table, DATASET_COLUMNS)
    assert table["start"].dtype == UTC_DTYPE


def test_training_history_lists_every_run_with_its_numbers(dataset_list: DatasetList) -> None:
    history = training_history(dataset_list)
    success = dataset_list.items[0].training_results[1]

    assert_schema(history, HISTORY_COLUMNS)
    assert history["run_label"].tolist() == ["Q1 2024 baseline #1", "Q1 2024 baseline #2", "9d1c43e0 #1"]
    assert history["run"].tolist() == [1, 2, 1]
    assert history["dataset_id"].tolist() == [TRAINED_ID, TRAINED_ID, TRAINING_ID]
    assert history["dataset_comment"].tolist()[:2] == ["Q1 2024 baseline"] * 2
    assert history["status"].tolist() == ["FAILURE", "SUCCESS", "TRAINING"]
    row = history.iloc[1]
    assert row["created"] == utc("2024-04-02T08:15:00")
    assert row["feature_config_name"] == "connection-features-v3"
    assert row["num_connections"] == 45123
    assert row["epochs"] == 12
    assert row["final_training_loss"] == success.training_dataset_loss[-1] == 0.0202431
    assert row["final_validation_loss"] == success.validation_dataset_loss[-1] == 0.0240573
    assert (row["mean"], row["std"], row["quantile_99"], row["quantile_999"]) == (
        success.mean, success.std, success.quantile_99, success.quantile_999,
    )
    failed = history.iloc[0]
    assert failed["error_code"] == "REQUIRED_VALUE_MISSING"
    assert failed["error_details"].startswith("Not enough connections")
    assert failed["epochs"] == 0 and pd.isna(failed["final_training_loss"]) and pd.isna(failed["mean"])
    # A run still training has one more training value than validation values.
    assert history.iloc[2]["epochs"] == 3
    assert history.iloc[2]["created"] == utc("2024-05-10T12:00:00.250")


def test_training_history_of_one_dataset_and_of_none(trained_dataset: Dataset) -> None:
    assert training_history(trained_dataset)["run"].tolist() == [1, 2]
    empty = training_history([])
    assert empty.empty
    assert_schema(empty, HISTORY_COLUMNS)


def _dataset(dataset_id: str, comment: str | None, runs: int = 1) -> Dataset:
    return Dataset(
        id=dataset_id,
        comment=comment,
        time_range_settings=TimeRange(),
        training_results=[TrainingResult(status="SUCCESS")] * runs,
    )


def test_run_labels_stay_unique_when_comments_read_the_same() -> None:
    runs = training_runs([
        _dataset("aaaaaaaa-1", "baseline"),
        _dataset("bbbbbbbb-2", "baseline", runs=2),
        _dataset("cccccccc-3", None),
    ])

    assert [run.label for run in runs] == [
        "baseline (aaaaaaaa) #1",
        "baseline (bbbbbbbb) #1",
        "baseline (bbbbbbbb) #2",
        "cccccccc #1",
    ]
    assert [run.number for run in runs] == [1, 1, 2, 1]


def test_run_labels_keep_the_first_line_of_a_long_comment_short() -> None:
    [run] = training_runs(_dataset("x", "A very long description of this dataset\nsecond line"))

    assert run.label == "A very long description… #1"
    assert run.dataset_comment.startswith("A very long description of this dataset")


def test_loss_frame_is_long_with_1_based_epochs_and_the_api_losses(dataset_list: DatasetList) -> None:
    runs = training_runs(dataset_list)
    frame = loss_frame(runs)
    success, training = runs[1].result, runs[2].result

    assert_schema(frame, LOSS_COLUMNS)
    assert len(frame) == 12 + 12 + 3 + 2
    curve = frame[(frame["run"] == "Q1 2024 baseline #2") & (frame["split"] == "validation")]
    assert curve["epoch"].tolist() == list(range(1, 13))
    assert curve["loss"].tolist() == success.validation_dataset_loss
    running = frame[frame["run"] == "9d1c43e0 #1"]
    assert running.groupby("split")["loss"].apply(list).to_dict() == {
        "training": training.training_dataset_loss,
        "validation": training.validation_dataset_loss,
    }


def test_loss_frame_takes_pairs_a_mapping_or_one_result(trained: TrainingResult) -> None:
    from_pairs = loss_frame([("a", trained)])
    from_mapping = loss_frame({"a": trained})
    alone = loss_frame(trained)

    pd.testing.assert_frame_equal(from_pairs, from_mapping)
    assert set(alone["run"]) == {"run"}
    assert alone["loss"].tolist() == from_pairs["loss"].tolist()


def test_loss_frame_of_nothing_has_its_columns() -> None:
    frame = loss_frame([])
    assert frame.empty
    assert_schema(frame, LOSS_COLUMNS)


def test_histogram_frame_has_the_api_bins_and_shares(trained: TrainingResult) -> None:
    histogram = trained.validation_dataset_histogram
    frame = histogram_frame(trained)

    assert_schema(frame, HISTOGRAM_COLUMNS)
    assert frame["count"].tolist() == histogram.hist
    assert frame["bin_start"].tolist() == histogram.bin_edges[:-1]
    assert frame["bin_end"].tolist() == histogram.bin_edges[1:]
    assert frame["share"].tolist() == pytest.approx([count / 9000 for count in histogram.hist])
    pd.testing.assert_frame_equal(histogram_frame(histogram), frame)


def test_histogram_frame_of_a_result_without_histogram_is_empty(dataset_list: DatasetList) -> None:
    failure = dataset_list.items[0].training_results[0]
    for source in (failure, None, Histogram()):
        frame = histogram_frame(source)
        assert frame.empty
        assert_schema(frame, HISTOGRAM_COLUMNS)


def test_histogram_frame_of_zero_counts_has_zero_shares() -> None:
    frame = histogram_frame(Histogram(hist=[0, 0], bin_edges=[0.0, 0.5, 1.0]))
    assert frame["share"].tolist() == [0.0, 0.0]


@pytest.mark.parametrize(
    ("histogram", "field", "words"),
    [
        (Histogram(hist=[1, 2], bin_edges=[0.0, 1.0]), "bin_edges", "expected 3 edges for 2 bins, got 2"),
        (Histogram(hist=[1, 2], bin_edges=[0.0, 2.0, 1.0]), "bin_edges", "increase strictly"),
        (Histogram(hist=[1, 2], bin_edges=[0.0, float("nan"), 1.0]), "bin_edges", "finite"),
        (Histogram(hist=[1, -2], bin_edges=[0.0, 1.0, 2.0]), "hist", "none negative"),
    ],
)
def test_histogram_frame_names_the_field_of_a_bad_histogram(
    histogram: Histogram, field: str, words: str
) -> None:
    with pytest.raises(ValueError, match=f"validation_dataset_histogram.{field}: .*{words}"):
        histogram_frame(histogram)


def test_with_utc_labels_names_only_the_timestamp_columns(dataset_list: DatasetList) -> None:
    labelled = with_utc_labels(datasets_table(dataset_list))

    assert "start (UTC)" in labelled.columns and "last_training (UTC)" in labelled.columns
    assert "start" not in labelled.columns
    assert "comment" in labelled.columns and "runs" in labelled.columns
