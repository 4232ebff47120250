"""Timeouts: a separate, shorter connect timeout, so an address that drops packets fails in seconds.

Each request carries its timeouts (httpx puts them in the request's extensions), so the fake server sees
exactly what a real connection would have waited; retry pauses go to the sleep recorder, never to a
real sleep.
"""

from __future__ import annotations

import httpx
import pytest
from pydantic import ValidationError

from ueba_api import ApiTimeoutError, ClientSettings, UebaClient
from ueba_api.settings import DEFAULT_CONNECT_TIMEOUT, DEFAULT_TIMEOUT

from .fakes import API, BASE_URL, TOKEN_URL, ClientFactory, FakeServer, SleepRecorder, reply, token_reply

STATUS = {"status": "RUNNING"}


def phases(connect: float | None, other: float | None) -> dict[str, float | None]:
    return {"connect": connect, "read": other, "write": other, "pool": other}


def test_the_default_connect_timeout_is_shorter_than_the_answer_timeout(make_client: ClientFactory) -> None:
    client, server = make_client(reply(200, STATUS))

    client.get_status()

    assert (DEFAULT_TIMEOUT, DEFAULT_CONNECT_TIMEOUT) == (30.0, 10.0)
    assert server.timeouts == [phases(10.0, 30.0)]


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"timeout": 120.0}, phases(10.0, 120.0)),
        # A connect timeout above the whole timeout would make no sense: a short timeout caps it.
        ({"timeout": 4.0}, phases(4.0, 4.0)),
        ({"timeout": 120.0, "connect_timeout": 3.0}, phases(3.0, 120.0)),
        ({"timeout": httpx.Timeout(60.0, connect=2.0)}, phases(2.0, 60.0)),
        ({"timeout": httpx.Timeout(5.0, read=None)},
         {"connect": 5.0, "read": None, "write": 5.0, "pool": 5.0}),
        ({"timeout": httpx.Timeout(60.0, connect=2.0), "connect_timeout": 7.0}, phases(7.0, 60.0)),
    ],
    ids=["float", "short float", "float and connect", "httpx.Timeout", "no read limit",
         "Timeout and connect"],
)
def test_timeouts_given_to_the_client_reach_the_request(
    make_client: ClientFactory, options: dict[str, object], expected: dict[str, float | None]
) -> None:
    client, server = make_client(reply(200, STATUS), **options)

    client.get_status()

    assert server.timeouts == [expected]


def test_connect_timeout_comes_from_the_settings_and_covers_the_login_too() -> None:
    settings = ClientSettings(base_url=BASE_URL, client_id="api-client-id", client_secret="s",
                              timeout=45.0, connect_timeout=2.5)
    server = FakeServer([token_reply(), reply(200, STATUS)])

    with UebaClient.from_settings(settings, transport=httpx.MockTransport(server)) as client:
        client.get_status()

    assert [str(request.url) for request in server.requests] == [TOKEN_URL, f"{API}/status"]
    assert server.timeouts == [phases(2.5, 45.0)] * 2


@pytest.mark.parametrize(
    ("options", "field"),
    [({"connect_timeout": 0}, "connect_timeout"), ({"connect_timeout": -1.0}, "connect_timeout"),
     ({"connect_timeout": float("inf")}, "connect_timeout"),
     ({"timeout": httpx.Timeout(5.0, read=-1)}, "timeout"), ({"timeout": "soon"}, "timeout")],
    ids=["zero connect", "negative connect", "infinite connect", "negative read", "text"],
)
def test_bad_timeouts_are_named(options: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        UebaClient(BASE_URL, token="t", **options)

    assert [".".join(map(str, error["loc"])) for error in caught.value.errors()] == [field]


@pytest.mark.parametrize(
    ("options", "attempts", "connect"),
    [({}, 3, 10.0), ({"max_retries": 0}, 1, 10.0), ({"max_retries": 1, "connect_timeout": 2.5}, 2, 2.5)],
    ids=["defaults", "no retries", "one retry, 2.5 s"],
)
def test_an_address_that_drops_packets_fails_within_the_configured_budget(
    make_client: ClientFactory, sleeps: SleepRecorder, options: dict[str, float], attempts: int,
    connect: float,
) -> None:
    failures = [httpx.ConnectTimeout("timed out") for _ in range(attempts)]
    client, server = make_client(*failures, **options)

    with pytest.raises(ApiTimeoutError) as caught:
        client.get_status()

    assert str(caught.value) == f"GET {API}/status timed out while connecting"
    assert len(server.requests) == attempts
    assert [timeout["connect"] for timeout in server.timeouts] == [connect] * attempts
    # Backoff with jitter: retry n waits between half and all of 0.5 s × 2^n.
    assert len(sleeps.delays) == attempts - 1
    for retry, delay in enumerate(sleeps.delays):
        assert 0.25 * 2**retry <= delay <= 0.5 * 2**retry
    # The most a user waits: every attempt's connect timeout plus the pauses. With the defaults that is
    # at most 31.5 s, where a 30 s connect timeout made it up to 91.5 s.
    worst_case = connect * attempts + sum(sleeps.delays)
    assert worst_case <= {3: 31.5, 1: 10.0, 2: 5.5}[attempts]
