"""Every error status maps to its type, whatever the body looks like, and reads as one sentence."""

from __future__ import annotations

import httpx
import pytest
from pydantic import ValidationError

from ueba_api import (
    AnomalyAction,
    AnomalySettings,
    ApiConnectionError,
    ApiResponseValidationError,
    ApiStatusError,
    ApiTimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    ErrorBody,
    NotFoundError,
    PermissionDeniedError,
    ServerError,
    UebaError,
)

from .fakes import API, ClientFactory, payload, reply

STATUS_CLASSES = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    413: ApiStatusError,
    422: ApiStatusError,
    500: ServerError,
    502: ServerError,
    503: ServerError,
    504: ServerError,
}


@pytest.mark.parametrize(("status", "error_class"), STATUS_CLASSES.items())
def test_status_maps_to_its_error_type(make_client: ClientFactory, status: int, error_class: type) -> None:
    client, _ = make_client(reply(status, payload("error.json")), max_retries=0)

    with pytest.raises(ApiStatusError) as caught:
        client.get_dataset("d-1")

    error = caught.value
    assert type(error) is error_class
    assert error.status_code == status
    assert (error.error_code, error.error_message, error.property) == ("GENERAL_ERROR", "string", "string")
    assert error.details == [None]
    assert (error.method, error.url) == ("GET", f"{API}/datasets/d-1")
    assert str(error) == "Error: string (string)"


def test_contract_error_reads_as_one_sentence(make_client: ClientFactory) -> None:
    body = {"error_code": "INVALID_REQUEST_DATA", "error_message": "end must be after start",
            "property": "time_range_settings.end", "details": []}
    client, _ = make_client(reply(400, body))

    with pytest.raises(BadRequestError) as caught:
        client.count_connections()

    assert str(caught.value) == "Invalid request data: end must be after start (time_range_settings.end)"
    assert caught.value.error_code == "INVALID_REQUEST_DATA"
    assert type(caught.value.error_code) is str


def test_nested_details_and_nulls_join_the_sentence(make_client: ClientFactory) -> None:
    body = {
        "error_code": "REQUIRED_VALUE_MISSING",
        "error_message": "dataset is incomplete",
        "details": [None, {"error_code": "REQUIRED_VALUE_MISSING", "property": "time_range_settings"},
                    {"error_code": "VALUE_OUT_OF_BOUNDS", "error_message": "too long", "property": "comment",
                     "details": [None]}],
    }
    client, _ = make_client(reply(400, body))

    with pytest.raises(BadRequestError) as caught:
        client.create_dataset(payload("dataset.json"))

    assert str(caught.value) == (
        "Required value missing: dataset is incomplete; Required value missing (time_range_settings); "
        "too long (comment)"
    )
    assert caught.value.details[0] is None
    assert caught.value.details[2] == ErrorBody(
        error_code="VALUE_OUT_OF_BOUNDS", error_message="too long", property="comment", details=[None]
    )


def test_unknown_error_code_is_kept_as_text(make_client: ClientFactory) -> None:
    body = {"error_code": "DATASET_LOCKED", "error_message": "stop analyzing first"}
    client, _ = make_client(reply(409, body))

    with pytest.raises(ConflictError) as caught:
        client.delete_dataset("d-1")

    assert caught.value.error_code == "DATASET_LOCKED"
    assert str(caught.value) == "DATASET_LOCKED: stop analyzing first"


def test_a_gateway_page_is_told_by_its_text_and_kept_as_it_came(make_client: ClientFactory) -> None:
    page = "<html>\n<head><title>502 Bad Gateway</title></head>\n<body>nginx</body>\n</html>\n"
    client, _ = make_client(reply(502, text=page, content_type="text/html"), max_retries=0)

    with pytest.raises(ServerError) as caught:
        client.list_datasets()

    error = caught.value
    assert error.status_code == 502
    assert error.error_code is None and error.error_message is None and error.details == []
    assert error.body_text == "<html> <head><title>502 Bad Gateway</title></head> <body>nginx</body> </html>"
    assert str(error) == f"HTTP 502 Bad Gateway from GET {API}/datasets: a web page saying “nginx”"
    assert not error.may_have_acted, "a read acts on nothing"


@pytest.mark.parametrize(
    ("page", "content_type", "told"),
    [
        # Visible text only: no head, script, style or comment, entities read.
        ("<!DOCTYPE html><html><head><title>Error</title><style>p{color:red}</style></head><body>"
         "<script>var x = '<b>';</script><p>Down for <b>maintenance</b> &amp; back at 14:00</p>"
         "<!-- upstream: 10.0.0.7 --></body></html>", "text/html; charset=utf-8",
         "a web page saying “Down for maintenance & back at 14:00”"),
        # A page with nothing to read in its body is told by its title; one with neither, as empty.
        ("<html><head><title>503 Service Unavailable</title></head><body> </body></html>", "text/html",
         "a web page saying “503 Service Unavailable”"),
        ("<html><body></body></html>", "text/html", "an empty web page"),
        # Sent as text/plain, known by its start.
        ("  <HTML><body>Bad gateway</body></HTML>", "text/plain", "a web page saying “Bad gateway”"),
    ],
    ids=["visible text", "title", "empty", "sniffed"],
)
def test_a_web_page_is_told_by_what_a_reader_sees(
    make_client: ClientFactory, page: str, content_type: str, told: str
) -> None:
    client, _ = make_client(reply(503, text=page, content_type=content_type), max_retries=0)

    with pytest.raises(ServerError) as caught:
        client.get_status()

    assert str(caught.value) == f"HTTP 503 Service Unavailable from GET {API}/status: {told}"


def test_empty_body_still_raises_typed_error(make_client: ClientFactory) -> None:
    client, _ = make_client(reply(502), max_retries=0)

    with pytest.raises(ServerError) as caught:
        client.get_status()

    assert str(caught.value) == f"HTTP 502 Bad Gateway from GET {API}/status: (empty body)"
    assert caught.value.body_text == ""


def test_long_text_body_is_trimmed_in_the_sentence(make_client: ClientFactory) -> None:
    client, _ = make_client(reply(500, text="x" * 5000))

    with pytest.raises(ServerError) as caught:
        client.stop_analyzing()

    assert str(caught.value).endswith(": " + "x" * 199 + "…")
    assert len(caught.value.body_text) == 500


def test_json_that_is_not_an_error_body_keeps_its_text(make_client: ClientFactory) -> None:
    client, _ = make_client(reply(403, ["forbidden"]))

    with pytest.raises(PermissionDeniedError) as caught:
        client.get_configuration()

    assert str(caught.value) == f'HTTP 403 Forbidden from GET {API}/configure: ["forbidden"]'


def test_unreadable_success_body_raises_response_validation_error(make_client: ClientFactory) -> None:
    client, _ = make_client(reply(201, {"identifier": "x"}))

    with pytest.raises(ApiResponseValidationError) as caught:
        client.create_dataset(payload("dataset.json"))

    assert isinstance(caught.value, UebaError)
    # The dataset was created (2xx) though its id could not be read: say so, so nobody creates it twice.
    assert str(caught.value) == (f"Unexpected answer from POST {API}/datasets: Field required (id); "
                                 "the server may have received it, so check before trying again")
    assert caught.value.body_text == '{"identifier":"x"}'


def test_connect_failure_raises_connection_error(make_client: ClientFactory) -> None:
    refused = httpx.ConnectError("[Errno 111] Connection refused")
    client, server = make_client(refused, refused, refused)

    with pytest.raises(ApiConnectionError) as caught:
        client.get_status()

    assert type(caught.value) is ApiConnectionError
    assert str(caught.value) == f"Could not connect for GET {API}/status: [Errno 111] Connection refused"
    assert len(server.requests) == 3


def test_read_timeout_raises_timeout_error(make_client: ClientFactory) -> None:
    client, _ = make_client(httpx.ReadTimeout("timed out"))

    with pytest.raises(ApiTimeoutError) as caught:
        client.train_dataset("d-1")

    assert isinstance(caught.value, ApiConnectionError)
    assert str(caught.value) == (
        f"POST {API}/train/d-1?set_active_after_training=false timed out waiting for the answer; "
        "the server may have received it, so the training may have started: check the dataset's training "
        "status before trying again"
    )


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"action": "BLOCK", "threshold": 1.5}, "threshold"),
        ({"action": "BLOCK", "threshold": -0.1}, "threshold"),
        ({"action": "BLOCK", "threshold": float("nan")}, "threshold"),
        ({"action": "block", "threshold": 0.5}, "action"),
        ({"action": "ALERT", "threshold": 0.5}, "action"),
        ({"threshold": 0.5}, "action"),
        ({"settings": AnomalySettings(action=AnomalyAction.AUDIT, threshold=7.0)}, "threshold"),
    ],
)
def test_anomaly_settings_are_checked_before_sending(
    make_client: ClientFactory, arguments: dict, field: str
) -> None:
    client, server = make_client()

    with pytest.raises(ValidationError) as caught:
        client.set_anomaly_settings(**arguments)

    assert [error["loc"] for error in caught.value.errors()] == [(field,)]
    assert server.requests == []


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda c: c.get_dataset(""), "dataset_id"),
        (lambda c: c.delete_dataset("   "), "dataset_id"),
        (lambda c: c.train_dataset(None), "dataset_id"),
        (lambda c: c.download_setup_script(""), "session_id"),
        (lambda c: c.list_datasets(bin_count=0), "bin_count"),
        (lambda c: c.list_datasets(logs="yes"), "logs"),
        (lambda c: c.train_dataset("d-1", set_active_after_training="no"), "set_active_after_training"),
        (lambda c: c.set_configuration(address="ueba:8443"), "trust_anchors"),
        (lambda c: c.create_dataset({"comment": "no range"}), "time_range_settings"),
    ],
)
def test_bad_arguments_name_the_field_and_send_nothing(make_client: ClientFactory, call, field: str) -> None:
    client, server = make_client()

    with pytest.raises(ValidationError) as caught:
        call(client)

    assert [error["loc"][0] for error in caught.value.errors()] == [field]
    assert server.requests == []
