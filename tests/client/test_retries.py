"""Retries: only what is safe to repeat, with backoff, honouring Retry-After."""

from __future__ import annotations

import email.utils
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from ueba_api import ApiConnectionError, ApiStatusError, Dataset, ServerError, TimeRange, UebaClient

from .fakes import API, TOKEN_URL, ClientFactory, SleepRecorder, payload, reply, token_reply

STATUS = {"status": "RUNNING", "version": "40.0.0"}

# Calls whose repetition would act twice: a second dataset, a second training.
NOT_REPEATABLE: dict[str, tuple[Callable[[UebaClient], object], httpx.Response]] = {
    "create_dataset": (lambda c: c.create_dataset(Dataset.model_validate(payload("dataset.json"))),
                       reply(201, {"id": "new-id"})),
    "train_dataset": (lambda c: c.train_dataset("d-1"), reply(200, {"count": 6000})),
}


def type_name(value: object) -> str:
    return type(value).__name__


def test_get_succeeds_after_two_503s(make_client: ClientFactory, sleeps: SleepRecorder) -> None:
    client, server = make_client(reply(503), reply(503), reply(200, STATUS))

    status = client.get_status()

    assert status.version == "40.0.0"
    assert [str(request.url) for request in server.requests] == [f"{API}/status"] * 3
    # Exponential backoff with jitter: 0.5 s then 1 s, each between half and all of it.
    assert len(sleeps.delays) == 2
    assert 0.25 <= sleeps.delays[0] <= 0.5
    assert 0.5 <= sleeps.delays[1] <= 1.0


def test_get_gives_up_after_max_retries(make_client: ClientFactory, sleeps: SleepRecorder) -> None:
    client, server = make_client(reply(503), reply(502), reply(504))

    with pytest.raises(ServerError) as caught:
        client.list_datasets()

    assert caught.value.status_code == 504
    assert len(server.requests) == 3
    assert len(sleeps.delays) == 2


def test_no_retries_when_max_retries_is_zero(make_client: ClientFactory, sleeps: SleepRecorder) -> None:
    client, server = make_client(reply(503), max_retries=0)

    with pytest.raises(ServerError):
        client.get_status()

    assert len(server.requests) == 1
    assert sleeps.delays == []


@pytest.mark.parametrize("call_name", NOT_REPEATABLE)
@pytest.mark.parametrize(
    "failure",
    [httpx.ReadTimeout("timed out"), httpx.WriteTimeout("timed out"), httpx.ReadError("reset by peer"),
     httpx.RemoteProtocolError("Server disconnected without sending a response.")],
    ids=type_name,
)
def test_write_that_may_have_arrived_is_not_sent_twice(
    make_client: ClientFactory, sleeps: SleepRecorder, call_name: str, failure: Exception
) -> None:
    call, success = NOT_REPEATABLE[call_name]
    client, server = make_client(failure, success)

    with pytest.raises(ApiConnectionError) as caught:
        call(client)

    assert len(server.requests) == 1
    assert sleeps.delays == []
    assert "may have received it" in str(caught.value)


@pytest.mark.parametrize("call_name", NOT_REPEATABLE)
@pytest.mark.parametrize("status", [429, 502, 503, 504])
def test_write_answered_with_retryable_status_is_not_sent_twice(
    make_client: ClientFactory, call_name: str, status: int
) -> None:
    call, success = NOT_REPEATABLE[call_name]
    client, server = make_client(reply(status, retry_after="0"), success)

    with pytest.raises(ApiStatusError) as caught:
        call(client)

    assert caught.value.status_code == status
    assert len(server.requests) == 1


@pytest.mark.parametrize("call_name", NOT_REPEATABLE)
@pytest.mark.parametrize(
    "failure", [httpx.ConnectError("refused"), httpx.ConnectTimeout("timed out")], ids=type_name
)
def test_write_that_never_left_is_sent_again(
    make_client: ClientFactory, call_name: str, failure: Exception
) -> None:
    call, success = NOT_REPEATABLE[call_name]
    client, server = make_client(failure, success)

    result = call(client)

    assert result in ("new-id", 6000)
    assert len(server.requests) == 2
    assert server.requests[0].content == server.requests[1].content


def test_retry_after_seconds_is_honoured(make_client: ClientFactory, sleeps: SleepRecorder) -> None:
    client, server = make_client(reply(429, retry_after="7"), reply(200, STATUS))

    client.get_status()

    assert sleeps.delays == [7.0]
    assert len(server.requests) == 2


def test_retry_after_http_date_is_honoured(make_client: ClientFactory, sleeps: SleepRecorder) -> None:
    when = datetime.now(UTC) + timedelta(seconds=30)
    client, _ = make_client(reply(503, retry_after=email.utils.format_datetime(when, usegmt=True)),
                            reply(200, STATUS))

    client.get_status()

    (delay,) = sleeps.delays
    # The header has whole seconds, and a moment passes between writing it and reading it.
    assert 27.0 < delay <= 30.0


@pytest.mark.parametrize(("retry_after", "expected"), [("30", 30.0), ("0", 0.0),
                                                        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0)])
def test_retry_after_up_to_the_cap_is_honoured_and_never_negative(
    make_client: ClientFactory, sleeps: SleepRecorder, retry_after: str, expected: float
) -> None:
    client, _ = make_client(reply(503, retry_after=retry_after), reply(200, STATUS))

    client.get_status()

    assert sleeps.delays == [expected]


def test_unreadable_retry_after_falls_back_to_backoff(
    make_client: ClientFactory, sleeps: SleepRecorder
) -> None:
    client, _ = make_client(reply(503, retry_after="soon"), reply(200, STATUS))

    client.get_status()

    assert 0.25 <= sleeps.delays[0] <= 0.5


def test_query_connection_count_post_is_retried(make_client: ClientFactory) -> None:
    time_range = TimeRange.model_validate(payload("time_range.json"))
    client, server = make_client(reply(503), httpx.ReadTimeout("timed out"), reply(200, {"count": 42}))

    assert client.count_connections(time_range) == 42

    assert len(server.requests) == 3
    assert len({request.content for request in server.requests}) == 1


@pytest.mark.parametrize(
    "call",
    [lambda c: c.update_dataset("d-1", Dataset.model_validate(payload("dataset.json"))),
     lambda c: c.delete_dataset("d-1")],
    ids=["PUT", "DELETE"],
)
def test_put_and_delete_are_retried(make_client: ClientFactory, call: Callable[[UebaClient], None]) -> None:
    client, server = make_client(reply(502), httpx.ReadError("reset"), reply(200))

    call(client)

    assert len(server.requests) == 3


def test_failed_login_is_retried_without_repeating_the_call(make_client: ClientFactory) -> None:
    client, server = make_client(reply(503), token_reply(), reply(200, {"count": 6000}), oauth=True)

    assert client.train_dataset("d-1") == 6000

    assert [str(request.url) for request in server.requests] == [
        TOKEN_URL, TOKEN_URL, f"{API}/train/d-1?set_active_after_training=false",
    ]
