"""Bad input over raw HTTP: every case is a 400 (never a 500) with the contract body naming the field."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

VALID_RANGE = {"start": "2024-01-01T00:00:00Z", "end": "2024-02-01T00:00:00Z"}
UNKNOWN_ID = "00000000-0000-4000-8000-00000000dead"  # fixed: it names parametrized tests


def dataset_body(**time_range: Any) -> dict[str, Any]:
    return {"time_range_settings": VALID_RANGE | time_range}


def assert_contract_error(response: httpx.Response, status: int, code: str, property: str | None) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error_code", "error_message", "property", "details"}
    assert (body["error_code"], body["property"]) == (code, property)
    assert body["error_message"] and "Traceback" not in response.text
    return body


BODY_CASES = [
    pytest.param("/datasets", {}, "REQUIRED_VALUE_MISSING", "time_range_settings", id="missing time range"),
    pytest.param(
        "/datasets",
        dataset_body(end=VALID_RANGE["start"]),
        "INVALID_REQUEST_DATA",
        "time_range_settings.end",
        id="end equal to start",
    ),
    pytest.param(
        "/datasets",
        dataset_body(end="2023-12-31T23:59:59Z"),
        "INVALID_REQUEST_DATA",
        "time_range_settings.end",
        id="end before start",
    ),
    pytest.param(
        "/datasets",
        dataset_body(exclude=[{"start": "2024-01-05T00:00:00Z", "end": "2024-01-04T00:00:00Z"}]),
        "INVALID_REQUEST_DATA",
        "time_range_settings.exclude[0].end",
        id="exclusion ends before it starts",
    ),
    pytest.param(
        "/datasets",
        dataset_body(exclude=[VALID_RANGE, {"start": "2024-01-05T00:00:00Z", "end": "2024-01-05T00:00:00Z"}]),
        "INVALID_REQUEST_DATA",
        "time_range_settings.exclude[1].end",
        id="empty exclusion",
    ),
    pytest.param(
        "/datasets",
        dataset_body(exclude=[{"start": "2024-01-05T00:00:00Z"}]),
        "REQUIRED_VALUE_MISSING",
        "time_range_settings.exclude[0].end",
        id="exclusion without end",
    ),
    pytest.param(
        "/datasets",
        dataset_body(start="yesterday"),
        "VALUE_INCORRECT_FORMAT",
        "time_range_settings.start",
        id="bad date",
    ),
    pytest.param(
        "/datasets",
        dataset_body(start="2024-01-01T00:00:00"),
        "VALUE_INCORRECT_FORMAT",
        "time_range_settings.start",
        id="timestamp without zone",
    ),
    pytest.param(
        "/datasets",
        dataset_body(start=1704067200),
        "VALUE_INCORRECT_TYPE",
        "time_range_settings.start",
        id="epoch",
    ),
    pytest.param(
        "/datasets",
        {"time_range_settings": "all"},
        "VALUE_INCORRECT_TYPE",
        "time_range_settings",
        id="range text",
    ),
    pytest.param(
        "/datasets",
        dataset_body(exclude={"start": "2024-01-05T00:00:00Z"}),
        "VALUE_INCORRECT_TYPE",
        "time_range_settings.exclude",
        id="exclude not a list",
    ),
    pytest.param(
        "/datasets", dataset_body() | {"comment": 42}, "VALUE_INCORRECT_TYPE", "comment", id="comment int"
    ),
    pytest.param(
        "/datasets",
        dataset_body() | {"use_for_inference_once_trained": "yes"},
        "VALUE_INCORRECT_TYPE",
        "use_for_inference_once_trained",
        id="flag text",
    ),
    pytest.param(
        "/datasets", dataset_body() | {"colour": "red"}, "INVALID_REQUEST_DATA", "colour", id="unknown field"
    ),
    pytest.param(
        "/datasets",
        dataset_body() | {"comment": "x" * 10_001},
        "VALUE_OUT_OF_BOUNDS",
        "comment",
        id="comment too long",
    ),
    pytest.param(
        "/datasets",
        dataset_body(exclude=[{"start": "2024-01-02T00:00:00Z", "end": "2024-01-03T00:00:00Z"}] * 1001),
        "VALUE_OUT_OF_BOUNDS",
        "time_range_settings.exclude",
        id="too many exclusions",
    ),
    pytest.param("/datasets", [VALID_RANGE], "VALUE_INCORRECT_TYPE", "body", id="array body"),
    pytest.param(
        "/query-connection-count",
        {"start": "2024-02-01T00:00:00Z", "end": "2024-01-01T00:00:00Z"},
        "INVALID_REQUEST_DATA",
        "end",
        id="count with end before start",
    ),
    pytest.param(
        "/query-connection-count",
        {"exclude": [{"start": "2024-01-02T00:00:00Z", "end": "2024-01-01T00:00:00Z"}]},
        "INVALID_REQUEST_DATA",
        "exclude[0].end",
        id="count with backwards exclusion",
    ),
    pytest.param(
        "/anomaly-settings",
        {"action": "KILL", "threshold": 0.5},
        "INVALID_REQUEST_DATA",
        "action",
        id="bad action",
    ),
    pytest.param(
        "/anomaly-settings",
        {"action": "BLOCK", "threshold": 1.5},
        "VALUE_OUT_OF_BOUNDS",
        "threshold",
        id="over 1",
    ),
    pytest.param(
        "/anomaly-settings",
        {"action": "BLOCK", "threshold": -0.1},
        "VALUE_OUT_OF_BOUNDS",
        "threshold",
        id="below 0",
    ),
    pytest.param(
        "/anomaly-settings",
        {"action": "BLOCK", "threshold": "0.5"},
        "VALUE_INCORRECT_TYPE",
        "threshold",
        id="text",
    ),
    pytest.param(
        "/anomaly-settings", {"action": "AUDIT"}, "REQUIRED_VALUE_MISSING", "threshold", id="no threshold"
    ),
    pytest.param(
        "/configure",
        {"address": ["a"], "trust_anchors": ""},
        "VALUE_INCORRECT_TYPE",
        "address",
        id="address list",
    ),
]


@pytest.mark.parametrize(("path", "body", "code", "property"), BODY_CASES)
def test_bad_bodies_name_the_field(raw: httpx.Client, path: str, body: Any, code: str, property: str) -> None:
    assert_contract_error(raw.post(path, json=body), 400, code, property)


def test_update_with_a_bad_body_names_the_field(raw: httpx.Client) -> None:
    created = raw.post("/datasets", json=dataset_body())
    dataset_id = created.json()["id"]
    try:
        response = raw.put(f"/datasets/{dataset_id}", json=dataset_body(end=VALID_RANGE["start"]))
        assert_contract_error(response, 400, "INVALID_REQUEST_DATA", "time_range_settings.end")
    finally:
        raw.delete(f"/datasets/{dataset_id}")


@pytest.mark.parametrize(
    "content",
    [b"{not json", b'{"time_range_settings": {"start": "2024-01-01T00:00:00Z",', b"\xff\xfe"],
    ids=["garbage", "truncated", "not utf-8"],
)
def test_malformed_json_is_a_400(raw: httpx.Client, content: bytes) -> None:
    response = raw.post("/datasets", content=content, headers={"Content-Type": "application/json"})
    body = assert_contract_error(response, 400, "INVALID_REQUEST_DATA", "body")
    assert body["error_message"].startswith("Malformed JSON")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/datasets/not-a-uuid"),
        ("PUT", "/datasets/1234"),
        ("DELETE", "/datasets/5bf77342-221c-11ee-be56"),
        ("POST", "/train/x"),
        ("POST", "/start-analyzing/%20"),
    ],
)
def test_malformed_dataset_ids(raw: httpx.Client, method: str, path: str) -> None:
    json = dataset_body() if method == "PUT" else None
    assert_contract_error(raw.request(method, path, json=json), 400, "VALUE_INCORRECT_FORMAT", "dataset_id")


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"bin_count": 0}, "VALUE_OUT_OF_BOUNDS"),
        ({"bin_count": -3}, "VALUE_OUT_OF_BOUNDS"),
        ({"bin_count": 1001}, "VALUE_OUT_OF_BOUNDS"),
        ({"bin_count": 10**40}, "VALUE_OUT_OF_BOUNDS"),
        ({"bin_count": "ten"}, "VALUE_INCORRECT_TYPE"),
        ({"bin_count": 2.5}, "VALUE_INCORRECT_TYPE"),
    ],
)
def test_bin_count_out_of_range_or_not_a_number(raw: httpx.Client, params: dict, code: str) -> None:
    assert_contract_error(raw.get("/datasets", params=params), 400, code, "bin_count")
    response = raw.get(f"/datasets/{UNKNOWN_ID}", params=params)
    assert_contract_error(response, 400, code, "bin_count")


@pytest.mark.parametrize("path", ["/datasets", f"/datasets/{UNKNOWN_ID}"])
def test_logs_must_be_a_boolean(raw: httpx.Client, path: str) -> None:
    assert_contract_error(raw.get(path, params={"logs": "maybe"}), 400, "VALUE_INCORRECT_TYPE", "logs")


def test_set_active_after_training_must_be_a_boolean(raw: httpx.Client) -> None:
    response = raw.post(f"/train/{UNKNOWN_ID}", params={"set_active_after_training": "2"})
    assert_contract_error(response, 400, "VALUE_INCORRECT_TYPE", "set_active_after_training")


def test_every_error_lists_its_details(raw: httpx.Client) -> None:
    response = raw.post("/anomaly-settings", json={"action": "KILL", "threshold": 3})
    body = assert_contract_error(response, 400, "INVALID_REQUEST_DATA", "action")
    assert [(detail["error_code"], detail["property"]) for detail in body["details"]] == [
        ("INVALID_REQUEST_DATA", "action"),
        ("VALUE_OUT_OF_BOUNDS", "threshold"),
    ]
