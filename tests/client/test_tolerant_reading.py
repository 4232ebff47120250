"""Tolerant reading: nulls where the contract has optional fields, unknown fields, a run without status.

PrivX versions differ, and one odd dataset must not make `list_datasets()` (and so every page that lists
datasets) fail. Each answer here is an exact wire body sent through httpx.MockTransport.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any

import pytest

from ueba_api import ApiResponseValidationError, Dataset, DatasetList, TrainingResult, TrainingStatus
from ueba_api.models import MISSING_STATUS

from .fakes import ClientFactory, reply

# A list as an older or newer PrivX might send it: nulls for every optional field, nulls inside the loss
# curves and the histogram, fields this client has never heard of at every level, one run without any
# status at all, and beside it a dataset that is entirely ordinary.
NULL_HEAVY_LIST: dict[str, Any] = {
    "count": None,
    "next_page_token": "opaque-cursor",
    "items": [
        {
            "id": "0d6c1a52-5a52-4f57-9d0e-4c0bd6d0c001",
            "last_training": None,
            "is_active": None,
            "use_for_inference_once_trained": None,
            "time_range_settings": {
                "start": None,
                "end": "2024-05-01T00:00:00Z",
                "exclude": None,
                "timezone": "Europe/Helsinki",
            },
            "training_results": [
                {
                    "created": "2024-04-30T10:00:00.500+00:00",
                    "feature_config_name": None,
                    "error_code": None,
                    "error_details": None,
                    "num_connections": None,
                    "mean": None,
                    "std": None,
                    "quantile_99": None,
                    "quantile_999": None,
                    "training_log": None,
                    "training_dataset_loss": [0.31, None, 0.12],
                    "validation_dataset_loss": [None, 0.2, 0.14],
                    "validation_dataset_histogram": {
                        "hist": [40, None, 2],
                        "bin_edges": [0.0, 0.1, None, 0.3],
                        "density": False,
                    },
                    "dataset_id": None,
                    "engine_version": "5.1.0",
                },
                {
                    "created": "2024-04-30T12:00:00Z",
                    "feature_config_name": "default",
                    "status": "SUCCESS",
                    "num_connections": 48000,
                    "training_dataset_loss": None,
                    "validation_dataset_loss": None,
                    "validation_dataset_histogram": None,
                    "gpu": {"name": "none"},
                },
            ],
            "comment": None,
            "created": None,
            "created_by": None,
            "updated": None,
            "updated_by": None,
            "tags": ["imported"],
        },
        {
            "id": "0d6c1a52-5a52-4f57-9d0e-4c0bd6d0c002",
            "last_training": "2024-04-29T08:00:00Z",
            "is_active": True,
            "use_for_inference_once_trained": True,
            "time_range_settings": {
                "start": "2024-01-01T00:00:00Z", "end": "2024-04-01T00:00:00Z", "exclude": []
            },
            "training_results": [
                {
                    "created": "2024-04-29T07:55:00Z",
                    "feature_config_name": "default",
                    "status": "SUCCESS",
                    "num_connections": 52000,
                    "training_dataset_loss": [0.3, 0.1],
                    "validation_dataset_loss": [0.32, 0.11],
                    "validation_dataset_histogram": {"hist": [9000, 1400], "bin_edges": [0.0, 0.2, 0.9]},
                }
            ],
            "comment": "Q1",
        },
    ],
}


def assert_floats(actual: list[float], expected: list[float | None]) -> None:
    """`actual` equals `expected` where a None in `expected` must be NaN in `actual`."""
    assert len(actual) == len(expected), actual
    for got, want in zip(actual, expected, strict=True):
        assert isinstance(got, float)
        assert math.isnan(got) if want is None else got == want, (actual, expected)


def test_a_list_full_of_nulls_and_unknown_fields_parses(make_client: ClientFactory) -> None:
    client, _ = make_client(reply(200, NULL_HEAVY_LIST))

    datasets = client.list_datasets()

    # A null count is the number of datasets the answer holds, not 0 next to two datasets.
    assert datasets.count == 2
    odd, ordinary = datasets.items
    assert (odd.is_active, odd.use_for_inference_once_trained) == (False, False)
    assert odd.time_range_settings.start is None and odd.time_range_settings.exclude == []
    assert odd.comment is None and odd.created is None and odd.last_training is None

    no_status, without_curves = odd.training_results
    assert no_status.status == MISSING_STATUS
    assert no_status.created == datetime(2024, 4, 30, 10, 0, 0, 500000, tzinfo=UTC)
    assert_floats(no_status.training_dataset_loss, [0.31, None, 0.12])
    assert_floats(no_status.validation_dataset_loss, [None, 0.2, 0.14])
    histogram = no_status.validation_dataset_histogram
    assert histogram is not None
    assert_floats(histogram.hist, [40.0, None, 2.0])
    assert_floats(histogram.bin_edges, [0.0, 0.1, None, 0.3])
    assert without_curves.status is TrainingStatus.SUCCESS
    assert without_curves.training_dataset_loss == without_curves.validation_dataset_loss == []
    assert without_curves.validation_dataset_histogram is None

    assert (ordinary.is_active, ordinary.use_for_inference_once_trained) == (True, True)
    assert ordinary.comment == "Q1"
    assert ordinary.latest_result is not None
    assert ordinary.latest_result.validation_dataset_histogram is not None
    assert ordinary.latest_result.validation_dataset_histogram.hist == [9000.0, 1400.0]


@pytest.mark.parametrize("field", ["is_active", "use_for_inference_once_trained"])
@pytest.mark.parametrize("value", [None, "absent"])
def test_a_null_or_missing_flag_reads_as_false(field: str, value: object) -> None:
    body: dict[str, Any] = {"id": "d-1", "time_range_settings": {}, field: value}
    if value == "absent":
        del body[field]

    dataset = Dataset.model_validate_json(json.dumps(body))

    assert getattr(dataset, field) is False


def test_a_flag_that_is_not_a_boolean_is_still_refused() -> None:
    """Tolerance is for null, not for garbage: a flag reading "maybe" is a server bug worth seeing."""
    body = {"id": "d-1", "time_range_settings": {}, "is_active": "maybe"}

    with pytest.raises(ValueError, match="is_active"):
        Dataset.model_validate_json(json.dumps(body))


@pytest.mark.parametrize(
    ("body", "count"),
    [({"count": None, "items": []}, 0), ({"items": [{"time_range_settings": {}}]}, 1),
     ({"count": 40, "items": [{"time_range_settings": {}}]}, 40)],
    ids=["null, empty", "missing, one item", "given"],
)
def test_a_null_or_missing_count_is_the_number_of_items(body: dict[str, Any], count: int) -> None:
    assert DatasetList.model_validate_json(json.dumps(body)).count == count


@pytest.mark.parametrize("field", ["training_dataset_loss", "validation_dataset_loss"])
def test_a_null_loss_reads_as_nan_and_keeps_its_epoch(field: str) -> None:
    result = TrainingResult.model_validate_json(json.dumps({"status": "SUCCESS", field: [0.5, None, 0.25]}))

    # Still three epochs: dropping the null would move every later loss to the wrong epoch.
    assert_floats(getattr(result, field), [0.5, None, 0.25])


@pytest.mark.parametrize("status", [None, "absent"])
def test_a_run_without_status_reads_as_unknown(status: object) -> None:
    body: dict[str, Any] = {"status": status, "num_connections": 6000}
    if status == "absent":
        del body["status"]

    result = TrainingResult.model_validate_json(json.dumps(body))

    assert result.status == MISSING_STATUS == "UNKNOWN"
    assert not isinstance(result.status, TrainingStatus)
    assert result.num_connections == 6000


def test_a_body_that_is_no_dataset_list_is_still_an_error(make_client: ClientFactory) -> None:
    """Tolerance has an end: items that are not objects are not a list of datasets."""
    client, _ = make_client(reply(200, {"count": 1, "items": ["not a dataset"]}))

    with pytest.raises(ApiResponseValidationError, match=r"\(items\.0\)"):
        client.list_datasets()
