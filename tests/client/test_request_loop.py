"""The request loop's edges: a long Retry-After raises at once, `with_options` copies share the pool and the
login, a retried DELETE whose first try had deleted succeeds, and a failed login before a create or train
is retried because the call itself never left."""

from __future__ import annotations

import json

import httpx
import pytest

from ueba_api import (
    ApiConnectionError,
    ApiResponseValidationError,
    Dataset,
    NotFoundError,
    RateLimitError,
    ServerError,
    UebaClient,
)

from .fakes import (
    API,
    BASE_URL,
    PASSWORD_GRANT_LOGIN,
    TOKEN_URL,
    ClientFactory,
    FakeServer,
    SleepRecorder,
    payload,
    reply,
    token_reply,
)

STATUS = {"status": "RUNNING", "version": "40.0.0"}
GET_STATUS = f"GET {API}/status"


def sent(server: FakeServer) -> list[str]:
    return [f"{request.method} {request.url}" for request in server.requests]


# Retry-After longer than the client will sleep


def test_a_429_asking_for_an_hour_raises_at_once_with_the_wait(
    make_client: ClientFactory, sleeps: SleepRecorder
) -> None:
    too_many = {"error_code": "TOO_MANY_CONNECTIONS", "error_message": "slow down"}
    client, server = make_client(reply(429, too_many, retry_after="3600"), reply(200, STATUS))

    with pytest.raises(RateLimitError) as caught:
        client.get_status()

    assert caught.value.status_code == 429
    assert caught.value.retry_after == 3600.0
    assert str(caught.value) == ("Too many connections: slow down; the server asks to wait 60 min before "
                                 "trying again")
    assert sent(server) == [GET_STATUS]
    assert sleeps.delays == []


def test_a_503_asking_for_longer_than_the_cap_raises_at_once(
    make_client: ClientFactory, sleeps: SleepRecorder
) -> None:
    client, server = make_client(reply(503, text="<html>maintenance</html>", retry_after="61"))

    with pytest.raises(ServerError) as caught:
        client.get_status()

    assert caught.value.retry_after == 61.0
    assert str(caught.value).endswith(
        ": a web page saying “maintenance”; the server asks to wait 61 s before trying again")
    assert (len(server.requests), sleeps.delays) == (1, [])


def test_a_retry_after_beyond_the_calls_deadline_raises_at_once(
    make_client: ClientFactory, sleeps: SleepRecorder
) -> None:
    client, server = make_client(reply(429, retry_after="20"), reply(200, STATUS), deadline=15.0)

    with pytest.raises(RateLimitError) as caught:
        client.get_status()

    assert caught.value.retry_after == 20.0
    assert (len(server.requests), sleeps.delays) == (1, [])


def test_a_short_retry_after_on_a_429_is_still_waited_for(
    make_client: ClientFactory, sleeps: SleepRecorder
) -> None:
    client, server = make_client(reply(429, retry_after="2"), reply(200, STATUS))

    assert client.get_status().version == "40.0.0"
    assert (sent(server), sleeps.delays) == ([GET_STATUS] * 2, [2.0])


def test_a_login_answered_429_with_a_long_wait_raises_it(
    make_client: ClientFactory, sleeps: SleepRecorder
) -> None:
    client, server = make_client(reply(429, retry_after="600"), oauth=True)

    with pytest.raises(RateLimitError) as caught:
        client.get_status()

    assert caught.value.retry_after == 600.0
    assert (sent(server), sleeps.delays) == ([f"POST {TOKEN_URL}"], [])


# with_options


def test_with_options_changes_timeouts_and_retries_for_the_copy_only(
    make_client: ClientFactory, sleeps: SleepRecorder
) -> None:
    client, server = make_client(reply(503), reply(503), reply(503), reply(503), reply(503))
    quick = client.with_options(timeout=4.0, connect_timeout=1.5, max_retries=1)

    with pytest.raises(ServerError):
        quick.get_status()
    with pytest.raises(ServerError):
        client.get_status()

    assert len(server.requests) == 2 + 3
    assert server.timeouts[:2] == [{"connect": 1.5, "read": 4.0, "write": 4.0, "pool": 4.0}] * 2
    assert server.timeouts[2:] == [{"connect": 10.0, "read": 30.0, "write": 30.0, "pool": 30.0}] * 3
    assert (quick.options.max_retries, client.options.max_retries) == (1, 2)
    assert (quick.options.call_deadline(), client.options.call_deadline()) == (8.0, 60.0)
    assert repr(quick) == repr(client)


def test_with_options_copies_share_the_login_and_the_connection_pool() -> None:
    server = FakeServer([token_reply(), reply(200, STATUS), reply(200, STATUS), reply(200, STATUS)])
    client = UebaClient(BASE_URL, transport=httpx.MockTransport(server), **PASSWORD_GRANT_LOGIN)
    first = client.with_options(max_retries=0)
    second = first.with_options(timeout=5.0)

    for each in (client, first, second):
        each.get_status()

    # One login for the three: they share the auth (its token) and the httpx client (its pool).
    assert sent(server) == [f"POST {TOKEN_URL}", *[GET_STATUS] * 3]
    assert len({request.headers["Authorization"] for request in server.api_requests()}) == 1
    client.close()
    with pytest.raises(RuntimeError, match="client has been closed"):
        second.get_status()


@pytest.mark.parametrize(("options", "field"), [({"max_retries": 11}, "max_retries"),
                                                ({"deadline": 0}, "deadline"),
                                                ({"timeout": "soon"}, "timeout"),
                                                ({"token": "t"}, "token")])
def test_with_options_refuses_a_bad_or_unknown_option_by_name(
    make_client: ClientFactory, options: dict[str, object], field: str
) -> None:
    client, _ = make_client()

    with pytest.raises(ValueError) as caught:
        client.with_options(**options)

    assert [error["loc"] for error in caught.value.errors()] == [(field,)]  # type: ignore[attr-defined]


# A retried DELETE


def test_a_retried_delete_answered_404_after_a_lost_answer_succeeds(
    make_client: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="ueba_api")
    not_found = reply(404, {"error_code": "BAD_REQUEST", "error_message": "dataset not found"})
    client, server = make_client(httpx.ReadError("reset by peer"), not_found)

    assert client.delete_dataset("d-1") is None

    assert sent(server) == [f"DELETE {API}/datasets/d-1"] * 2
    assert "answered 404 on a retry: the first attempt deleted it" in caplog.text


def test_a_retried_delete_answered_404_after_a_gateway_502_succeeds(make_client: ClientFactory) -> None:
    client, server = make_client(reply(502, text="<html>Bad Gateway</html>"), reply(404))

    client.delete_dataset("d-1")

    assert len(server.requests) == 2


@pytest.mark.parametrize(
    "first",
    [None, httpx.ConnectError("refused"), reply(503, retry_after="0"), reply(429, retry_after="0")],
    ids=["first attempt", "never connected", "503", "429"],
)
def test_a_delete_answered_404_when_no_earlier_try_reached_the_server_is_not_found(
    make_client: ClientFactory, first: httpx.Response | Exception | None
) -> None:
    answers = [] if first is None else [first]
    not_found = reply(404, {"error_code": "BAD_REQUEST", "error_message": "no such"})
    client, server = make_client(*answers, not_found)

    with pytest.raises(NotFoundError):
        client.delete_dataset("d-1")

    assert len(server.requests) == len(answers) + 1


# A failed login before a write


@pytest.mark.parametrize(
    "failure",
    [httpx.ReadError("reset by peer"), httpx.ReadTimeout("timed out"),
     httpx.RemoteProtocolError("Server disconnected without sending a response.")],
    ids=lambda error: type(error).__name__,
)
def test_a_create_whose_login_broke_off_is_sent_once(make_client: ClientFactory, failure: Exception) -> None:
    dataset = Dataset.model_validate(payload("dataset.json"))
    client, server = make_client(failure, token_reply(), reply(201, {"id": "new-id"}), oauth=True)

    assert client.create_dataset(dataset) == "new-id"

    assert sent(server) == [f"POST {TOKEN_URL}", f"POST {TOKEN_URL}", f"POST {API}/datasets"]
    assert json.loads(server.requests[2].content) == dataset.to_request()


def test_a_train_whose_login_broke_off_after_a_401_is_sent_again(make_client: ClientFactory) -> None:
    """The first train was refused (401: not acted on); the new login then broke off: the train is sent
    once more, and only once it is authorised."""
    client, server = make_client(token_reply(), reply(401), httpx.ReadError("reset"), token_reply(),
                                 reply(200, {"count": 6000}), oauth=True)

    assert client.train_dataset("d-1") == 6000

    train = f"POST {API}/train/d-1?set_active_after_training=false"
    assert sent(server) == [f"POST {TOKEN_URL}", train, f"POST {TOKEN_URL}", f"POST {TOKEN_URL}", train]


def test_a_train_whose_own_request_broke_off_is_not_sent_again(make_client: ClientFactory) -> None:
    client, server = make_client(token_reply(), httpx.ReadError("reset"), reply(200, {"count": 6000}),
                                 oauth=True)

    with pytest.raises(ApiConnectionError) as caught:
        client.train_dataset("d-1")

    assert "the training may have started" in str(caught.value)
    assert len(server.api_requests()) == 1


@pytest.mark.parametrize("status", [502, 504])
def test_a_train_answered_by_a_gateway_error_says_it_may_have_started(
    make_client: ClientFactory, status: int
) -> None:
    client, server = make_client(reply(status, text="<html><body>Bad gateway</body></html>"))

    with pytest.raises(ServerError) as caught:
        client.train_dataset("d-1")

    assert str(caught.value) == (
        f"HTTP {status} {httpx.codes.get_reason_phrase(status)} from POST {API}/train/d-1?"
        "set_active_after_training=false: a web page saying “Bad gateway”; the server may have "
        "received it, so the training may have started: check the dataset's training status before trying "
        "again"
    )
    assert caught.value.may_have_acted
    assert len(server.requests) == 1


def test_a_train_whose_success_answer_is_cut_short_says_it_may_have_started(
    make_client: ClientFactory,
) -> None:
    client, _ = make_client(reply(200, text='{"cou'))

    with pytest.raises(ApiResponseValidationError) as caught:
        client.train_dataset("d-1")

    assert "the training may have started" in str(caught.value)
