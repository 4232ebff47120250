"""The wire format of successful answers (raw HTTP): shapes, status codes, empty bodies, UTC with `Z`,
audit fields, settings round trips, and /openapi.json describing the contract."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from ueba_server.launch import RunningServer
from ueba_server.openapi import UEBA_PREFIX

UTC_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
DATASET_FIELDS = {
    "id", "last_training", "is_active", "use_for_inference_once_trained", "time_range_settings",
    "training_results", "comment", "created", "created_by", "updated", "updated_by",
}  # fmt: skip


@pytest.fixture
def dataset(raw: httpx.Client) -> Iterator[str]:
    body = {
        "time_range_settings": {
            "start": "2024-01-01T02:00:00+02:00",
            "end": "2024-03-01T00:00:00.250Z",
            "exclude": [{"start": "2024-01-10T00:00:00Z", "end": "2024-01-11T00:00:00Z"}],
        },
        "comment": "wire",
        # Server-owned fields a client may echo back: accepted and ignored.
        "id": "00000000-0000-0000-0000-000000000000",
        "is_active": True,
        "training_results": [{"status": "SUCCESS"}],
        "created_by": "someone else",
    }
    response = raw.post("/datasets", json=body)
    assert response.status_code == 201
    assert response.json().keys() == {"id"}
    dataset_id = response.json()["id"]
    yield dataset_id
    raw.delete(f"/datasets/{dataset_id}")


def test_a_created_dataset_reads_back_in_utc_with_audit_fields(
    raw: httpx.Client, dataset: str, reference_server: RunningServer
) -> None:
    body = raw.get(f"/datasets/{dataset}").json()
    assert set(body) == DATASET_FIELDS
    assert body["id"] == dataset and body["id"] != "00000000-0000-0000-0000-000000000000"
    assert body["is_active"] is False and body["training_results"] == [] and body["last_training"] is None
    assert body["time_range_settings"] == {
        "start": "2024-01-01T00:00:00Z",
        "end": "2024-03-01T00:00:00.25Z",
        "exclude": [{"start": "2024-01-10T00:00:00Z", "end": "2024-01-11T00:00:00Z"}],
    }
    assert body["created_by"] == body["updated_by"] == reference_server.client_id
    assert UTC_Z.match(body["created"]) and UTC_Z.match(body["updated"])
    listed = raw.get("/datasets").json()
    assert listed["count"] == len(listed["items"]) and dataset in {item["id"] for item in listed["items"]}


def test_changes_answer_200_with_an_empty_body(raw: httpx.Client, dataset: str) -> None:
    update = raw.put(f"/datasets/{dataset}", json={"time_range_settings": {}, "comment": "all"})
    assert (update.status_code, update.content) == (200, b"")
    body = raw.get(f"/datasets/{dataset}").json()
    assert body["time_range_settings"] == {"start": None, "end": None, "exclude": []}
    assert body["comment"] == "all" and body["updated"] >= body["created"]
    for response in (raw.post("/stop-analyzing"), raw.delete(f"/datasets/{dataset}")):
        assert (response.status_code, response.content) == (200, b"")


def test_anomaly_settings_round_trip(raw: httpx.Client) -> None:
    original = raw.get("/anomaly-settings").json()
    assert original.keys() == {"action", "threshold"}
    try:
        response = raw.post("/anomaly-settings", json={"action": "BLOCK", "threshold": 1})
        assert (response.status_code, response.content) == (200, b"")
        assert raw.get("/anomaly-settings").json() == {"action": "BLOCK", "threshold": 1.0}
    finally:
        raw.post("/anomaly-settings", json=original)


def test_configuration_round_trip(raw: httpx.Client) -> None:
    original = raw.get("/configure").json()
    try:
        configuration = {
            "address": "https://ueba.example.com:8443",
            "trust_anchors": "-----BEGIN CERTIFICATE-----",
        }
        assert raw.post("/configure", json=configuration).status_code == 200
        assert raw.get("/configure").json() == configuration
    finally:
        raw.post("/configure", json=original)


def test_status_and_internal_status(raw: httpx.Client) -> None:
    status = raw.get("/status").json()
    assert status["status"] == "RUNNING" and UTC_Z.match(status["start_time"])
    details = {detail["k"]: detail["v"] for detail in status["status_details"]}
    assert details["feature_config_name"] == "ueba-default-v1" and details["connections"] == 50_000
    internal = raw.get("/status/internal").json()
    assert internal.keys() == {"training_status", "inference_status", "dataset_id", "instances"}


def test_openapi_describes_the_contract(reference_server: RunningServer) -> None:
    document = httpx.get(f"{reference_server.base_url}/openapi.json").json()
    paths = document["paths"]
    expected = {
        "/datasets": {"get", "post"},
        "/datasets/{dataset_id}": {"get", "put", "delete"},
        "/train/{dataset_id}": {"post"},
        "/query-connection-count": {"post"},
        "/anomaly-settings": {"get", "post"},
        "/start-analyzing/{dataset_id}": {"post"},
        "/stop-analyzing": {"post"},
        "/configure": {"get", "post"},
        "/setup-script": {"post"},
        "/setup-script/{session_id}": {"get"},
        "/status": {"get"},
        "/status/internal": {"get"},
    }
    for path, methods in expected.items():
        assert set(paths[f"{UEBA_PREFIX}{path}"]) == methods, path
    assert "/auth/api/v1/oauth/token" in paths
    create = paths[f"{UEBA_PREFIX}/datasets"]["post"]
    assert "201" in create["responses"]
    assert {"400", "401", "403", "404", "409", "413", "500"} <= set(create["responses"])
    schemas = document["components"]["schemas"]
    assert {"Dataset", "TrainingResult", "ErrorBody", "DatasetRequest", "TimeRangeRequest"} <= set(schemas)
    assert "time_range_settings" in schemas["DatasetRequest"]["required"]
    parameters = {p["name"]: p for p in paths[f"{UEBA_PREFIX}/datasets"]["get"]["parameters"]}
    assert (
        parameters["bin_count"]["schema"]["maximum"] == 1000
        and parameters["bin_count"]["schema"]["default"] == 50
    )
    # Every UEBA operation but the public status names the bearer scheme, so a client generated from the
    # document (and the fuzzer) sends the token.
    assert document["components"]["securitySchemes"] == {
        "HTTPBasic": {"type": "http", "scheme": "basic"},  # the OAuth client's, on the token endpoint
        "HTTPBearer": {"type": "http", "scheme": "bearer"},
    }
    for path, methods in expected.items():
        for method in methods:
            security = paths[f"{UEBA_PREFIX}{path}"][method].get("security")
            assert security == (None if path == "/status" else [{"HTTPBearer": []}]), (method, path)


def test_no_page_that_loads_from_a_cdn_is_served(reference_server: RunningServer) -> None:
    """FastAPI's Swagger UI and ReDoc pages fetch their scripts from the internet, which an air-gapped
    site cannot reach: the server serves neither, only the document."""
    for path in ("/docs", "/redoc", "/docs/oauth2-redirect"):
        assert httpx.get(f"{reference_server.base_url}{path}").status_code == 404, path
    assert httpx.get(f"{reference_server.base_url}/openapi.json").status_code == 200
