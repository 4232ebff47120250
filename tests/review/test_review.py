"""The review pages' pure helpers, on API objects parsed from wire payloads as the client reads them."""

from __future__ import annotations

import io
import json
import math

import pandas as pd
import pytest

from ueba_api import frames, review
from ueba_api.models import Dataset, TrainingResult

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
    assert review.dataset_choice_label(dataset) == "Q1 baseline · 5bf77342-221c-11ee-be56-0242ac120002"
    assert review.dataset_choice_label(Dataset.model_validate({"id": "d1", "time_range_settings": {}})) == (
        "No comment · d1"
    )


def test_history_downloads_keep_the_api_numbers(dataset: Dataset) -> None:
    table = review.history_table(frames.training_history(dataset))
    assert list(table.columns) == [
        "run", "created (UTC)", "status", "feature_config_name", "num_connections", "epochs",
        "final_training_loss", "final_validation_loss", "mean", "std", "quantile_99", "quantile_999",
        "error_code", "error_details",
    ]
    records = json.loads(review.history_json(table))
    assert records[0]["created (UTC)"] == "2024-04-01T10:00:00.000Z"
    assert records[0]["error_details"] == WIRE_DATASET["training_results"][0]["error_details"]
    assert records[0]["mean"] is None
    assert records[1]["quantile_999"] == 0.18
    assert records[1]["final_training_loss"] == 0.05
    csv = pd.read_csv(io.BytesIO(review.history_csv(table)))
    assert csv["num_connections"].tolist() == [3120, 45123, 50000]
    assert csv["quantile_99"].tolist()[1:] == [0.125, 0.1]
    assert pd.to_datetime(csv["created (UTC)"]).dt.tz is not None
