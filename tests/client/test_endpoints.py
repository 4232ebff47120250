"""Every endpoint of the contract: the exact request on the wire, and what the client makes of the answer."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from ueba_api import (
    AnomalyAction,
    AnomalySettings,
    Dataset,
    DatasetList,
    InternalStatus,
    ServiceState,
    ServiceStatus,
    TimeRange,
    TrainingStatus,
    UebaClient,
    UebaConfiguration,
)

from .fakes import API, BEARER_TOKEN, ClientFactory, payload, reply

DATASET_ID = "5bf77342-221c-11ee-be56-0242ac120002"
REFERENCE_TIME = datetime(2023, 6, 7, 17, 32, 28, tzinfo=UTC)
UTC_PLUS_2 = timezone(timedelta(hours=2))

# The reference dataset as a create/update body: client-owned fields only, timestamps with `Z`.
REFERENCE_DATASET_BODY = (
    b'{"use_for_inference_once_trained":true,"time_range_settings":{"start":"2023-06-07T17:32:28Z",'
    b'"end":"2023-06-07T17:32:28Z","exclude":[{"start":"2023-06-07T17:32:28Z","end":"2023-06-07T17:32:28Z"}]},'
    b'"comment":"string"}'
)
REFERENCE_TIME_RANGE_BODY = (
    b'{"start":"2023-06-07T17:32:28Z","end":"2023-06-07T17:32:28Z",'
    b'"exclude":[{"start":"2023-06-07T17:32:28Z","end":"2023-06-07T17:32:28Z"}]}'
)
SERVICE_STATUS = {
    "version": "40.0.0",
    "api_version": "v1",
    "status": "RUNNING",
    "status_message": "OK",
    "app_id": "connection-manager",
    "start_time": "2024-05-01T08:00:00.250+00:00",
    "issues": [
        {"severity": "WARNING", "code": "UEBA_SLOW", "message": "slow", "created": "2024-05-01T09:00:00Z",
         "updated": None},
    ],
    "status_details": [{"k": "ueba", "v": "connected"}],
}
INTERNAL_STATUS = {
    "training_status": "IDLE",
    "inference_status": "RUNNING",
    "dataset_id": DATASET_ID,
    "instances": [{"id": "m-1", "feature_config_name": "default", "status": "READY",
                   "created": "2024-05-01T09:00:00Z"}],
}
CONFIGURATION = {"address": "ueba.example.com:8443", "trust_anchors": "-----BEGIN CERTIFICATE-----\nMIIB\n"}
SETUP_SCRIPT = b"#!/bin/sh\necho 'installing UEBA'\n"


def reference_dataset() -> Dataset:
    return Dataset.model_validate(payload("dataset.json"))


@dataclass
class Exchange:
    call: Callable[[UebaClient], Any]
    method: str
    url: str
    body: bytes | None
    answer: httpx.Response
    result: Any
    accept: str = "application/json"


EXCHANGES = {
    "list datasets": Exchange(
        lambda c: c.list_datasets(), "GET", f"{API}/datasets", None,
        reply(200, payload("dataset_list.json")), DatasetList.model_validate(payload("dataset_list.json")),
    ),
    "list datasets with logs and bins": Exchange(
        lambda c: c.list_datasets(logs=True, bin_count=20), "GET", f"{API}/datasets?logs=true&bin_count=20",
        None, reply(200, {"count": 0, "items": []}), DatasetList(count=0, items=[]),
    ),
    "list datasets without logs": Exchange(
        lambda c: c.list_datasets(logs=False), "GET", f"{API}/datasets?logs=false", None,
        reply(200, {"count": 0, "items": None}), DatasetList(count=0, items=[]),
    ),
    "get dataset": Exchange(
        lambda c: c.get_dataset(DATASET_ID), "GET", f"{API}/datasets/{DATASET_ID}", None,
        reply(200, payload("dataset.json")), reference_dataset(),
    ),
    "get dataset with logs and bins": Exchange(
        lambda c: c.get_dataset(DATASET_ID, logs=False, bin_count=5), "GET",
        f"{API}/datasets/{DATASET_ID}?logs=false&bin_count=5", None,
        reply(200, payload("dataset.json")), reference_dataset(),
    ),
    "create dataset": Exchange(
        lambda c: c.create_dataset(reference_dataset()), "POST", f"{API}/datasets", REFERENCE_DATASET_BODY,
        reply(201, payload("new_id.json")), DATASET_ID,
    ),
    "update dataset": Exchange(
        lambda c: c.update_dataset(DATASET_ID, reference_dataset()), "PUT", f"{API}/datasets/{DATASET_ID}",
        REFERENCE_DATASET_BODY, reply(200), None,
    ),
    "delete dataset": Exchange(
        lambda c: c.delete_dataset(DATASET_ID), "DELETE", f"{API}/datasets/{DATASET_ID}", None,
        reply(200), None,
    ),
    "train dataset": Exchange(
        lambda c: c.train_dataset(DATASET_ID), "POST",
        f"{API}/train/{DATASET_ID}?set_active_after_training=false", None,
        reply(200, payload("count.json")), 123,
    ),
    "train and activate": Exchange(
        lambda c: c.train_dataset(DATASET_ID, set_active_after_training=True), "POST",
        f"{API}/train/{DATASET_ID}?set_active_after_training=true", None, reply(200, {"count": 6000}), 6000,
    ),
    "count connections in a range": Exchange(
        lambda c: c.count_connections(TimeRange.model_validate(payload("time_range.json"))), "POST",
        f"{API}/query-connection-count", REFERENCE_TIME_RANGE_BODY, reply(200, payload("count.json")), 123,
    ),
    "count all connections": Exchange(
        lambda c: c.count_connections(), "POST", f"{API}/query-connection-count", b"{}",
        reply(200, {"count": 98765}), 98765,
    ),
    "count from a local time": Exchange(
        lambda c: c.count_connections(TimeRange(start=datetime(2024, 3, 1, 12, tzinfo=UTC_PLUS_2))),
        "POST", f"{API}/query-connection-count", b'{"start":"2024-03-01T10:00:00Z","exclude":[]}',
        reply(200, {"count": 7}), 7,
    ),
    "get anomaly settings": Exchange(
        lambda c: c.get_anomaly_settings(), "GET", f"{API}/anomaly-settings", None,
        reply(200, {"action": "BLOCK", "threshold": 0.85}),
        AnomalySettings(action=AnomalyAction.BLOCK, threshold=0.85),
    ),
    "set anomaly settings by keyword": Exchange(
        lambda c: c.set_anomaly_settings(action="AUDIT", threshold=0.5), "POST", f"{API}/anomaly-settings",
        b'{"action":"AUDIT","threshold":0.5}', reply(200), None,
    ),
    "set anomaly settings from a model": Exchange(
        lambda c: c.set_anomaly_settings(AnomalySettings(action=AnomalyAction.BLOCK, threshold=1)), "POST",
        f"{API}/anomaly-settings", b'{"action":"BLOCK","threshold":1.0}', reply(200), None,
    ),
    "start analyzing": Exchange(
        lambda c: c.start_analyzing(DATASET_ID), "POST", f"{API}/start-analyzing/{DATASET_ID}", None,
        reply(200), None,
    ),
    "stop analyzing": Exchange(
        lambda c: c.stop_analyzing(), "POST", f"{API}/stop-analyzing", None, reply(200), None,
    ),
    "get configuration": Exchange(
        lambda c: c.get_configuration(), "GET", f"{API}/configure", None, reply(200, CONFIGURATION),
        UebaConfiguration(**CONFIGURATION),
    ),
    "set configuration": Exchange(
        lambda c: c.set_configuration(address="ueba.example.com:8443", trust_anchors="PEM"), "POST",
        f"{API}/configure", b'{"address":"ueba.example.com:8443","trust_anchors":"PEM"}', reply(200), None,
    ),
    "create setup script session": Exchange(
        lambda c: c.create_setup_script_session(), "POST", f"{API}/setup-script", None,
        reply(200, {"id": "0b4a1c9e-0000-4000-8000-000000000001"}), "0b4a1c9e-0000-4000-8000-000000000001",
    ),
    "download setup script": Exchange(
        lambda c: c.download_setup_script("0b4a1c9e"), "GET", f"{API}/setup-script/0b4a1c9e", None,
        httpx.Response(200, content=SETUP_SCRIPT, headers={"Content-Type": "text/x-shellscript"}),
        SETUP_SCRIPT,
        accept="*/*",
    ),
    "get status": Exchange(
        lambda c: c.get_status(), "GET", f"{API}/status", None, reply(200, SERVICE_STATUS),
        ServiceStatus.model_validate(SERVICE_STATUS),
    ),
    "get internal status": Exchange(
        lambda c: c.get_internal_status(), "GET", f"{API}/status/internal", None, reply(200, INTERNAL_STATUS),
        InternalStatus.model_validate(INTERNAL_STATUS),
    ),
    "internal status missing on newer PrivX": Exchange(
        lambda c: c.get_internal_status(), "GET", f"{API}/status/internal", None,
        reply(404, {"error_code": "GENERAL_ERROR", "error_message": "not found"}), None,
    ),
}


@pytest.mark.parametrize("exchange", EXCHANGES.values(), ids=EXCHANGES.keys())
def test_endpoint_sends_exact_request_and_parses_answer(
    make_client: ClientFactory, exchange: Exchange
) -> None:
    client, server = make_client(exchange.answer)

    result = exchange.call(client)

    request = server.only_request
    assert request.method == exchange.method
    assert str(request.url) == exchange.url
    assert request.headers["Authorization"] == f"Bearer {BEARER_TOKEN}"
    assert request.headers["Accept"] == exchange.accept
    assert request.headers["User-Agent"].startswith("ueba-notebook/")
    if exchange.body is None:
        assert request.content == b""
        assert "Content-Type" not in request.headers
    else:
        assert request.content == exchange.body
        assert request.headers["Content-Type"] == "application/json"
    assert result == exchange.result


def test_reference_dataset_list_parses_verbatim(make_client: ClientFactory) -> None:
    client, _ = make_client(reply(200, payload("dataset_list.json")))

    datasets = client.list_datasets()

    assert datasets.count == 123
    (dataset,) = datasets.items
    assert dataset.id == DATASET_ID
    assert dataset.last_training == REFERENCE_TIME
    assert dataset.is_active and dataset.use_for_inference_once_trained
    assert dataset.time_range_settings.start == REFERENCE_TIME
    assert dataset.time_range_settings.exclude[0].end == REFERENCE_TIME
    assert (dataset.comment, dataset.created_by, dataset.updated_by) == ("string", "string", "string")
    assert dataset.created == dataset.updated == REFERENCE_TIME
    (result,) = dataset.training_results
    assert result.status is TrainingStatus.TRAINING
    assert result.feature_config_name == "string"
    assert (result.error_code, result.error_details, result.training_log) == ("string", "string", "string")
    assert result.num_connections == 123
    assert (result.mean, result.std, result.quantile_99, result.quantile_999) == (123.0, 123.0, 123.0, 123.0)
    assert result.training_dataset_loss == result.validation_dataset_loss == [123.0]
    histogram = result.validation_dataset_histogram
    assert histogram is not None
    assert histogram.hist == histogram.bin_edges == [123.0]


def test_tolerant_reading_of_answers(make_client: ClientFactory) -> None:
    """Unknown fields, unknown enum values and the older `model_instance_status` name are all read."""
    status = {**SERVICE_STATUS, "status": "DEGRADED", "future_field": {"x": 1}}
    internal = {"training_status": None, "model_instance_status": [{"id": "m-2", "status": "NEW_STATE"}]}
    client, _ = make_client(reply(200, status), reply(200, internal))

    service = client.get_status()
    engine = client.get_internal_status()

    assert service.status == "DEGRADED"
    assert service.start_time == datetime(2024, 5, 1, 8, 0, 0, 250000, tzinfo=UTC)
    assert service.issues[0].updated is None
    assert engine is not None and engine.instances[0].status == "NEW_STATE"
    assert ServiceStatus.model_validate(SERVICE_STATUS).status is ServiceState.RUNNING


def test_dataset_id_is_one_path_segment(make_client: ClientFactory) -> None:
    client, server = make_client(reply(200))

    client.delete_dataset("../status")

    assert server.only_request.url.raw_path == b"/connection-manager/api/v1/ueba/datasets/..%2Fstatus"
