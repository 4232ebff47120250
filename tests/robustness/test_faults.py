"""The client behind a fault-injecting proxy, in front of the real reference server: for each fault, the
error type, the attempts the proxy saw and the time taken; and a create or train never reaches the server
twice (counted on the server: datasets by their comment, runs in the dataset's history)."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from tests.robustness.fault_proxy import Fault, FaultProxy
from ueba_api import (
    ApiConnectionError,
    ApiResponseValidationError,
    ApiTimeoutError,
    Dataset,
    NotFoundError,
    ServerError,
    TimeRange,
    UebaClient,
)
from ueba_api.client import API_PREFIX
from ueba_server.launch import RunningServer

# A busy 2-core machine may add this much to any timing below.
SLACK = 1.5
# The backoff pauses of retries 1 and 2: each between half and all of 0.5 s × 2^n.
FIRST_PAUSE = (0.25, 0.5)
DATASETS = f"{API_PREFIX}/datasets"
MAY_HAVE_ACTED = "the server may have received it"
TRAINING_MAY_HAVE_STARTED = "the training may have started"


def via(proxy: FaultProxy, server: RunningServer, **options: object) -> UebaClient:
    """A client of the reference server through the proxy, logged in with the password grant."""
    settings = {"client_id": server.client_id, "client_secret": server.client_secret,
                "oauth_client_id": server.oauth_client_id, "oauth_client_secret": server.oauth_client_secret,
                "timeout": 5.0}
    return UebaClient(proxy.url, **(settings | options))  # type: ignore[arg-type]


@pytest.fixture
def comment() -> str:
    """Marks the datasets one test creates, so the server can count them."""
    return f"fault test {uuid.uuid4()}"


def new_dataset(comment: str) -> Dataset:
    """A dataset over the whole session history (six months), enough to train on."""
    now = datetime.now(UTC)
    return Dataset(time_range_settings=TimeRange(start=now - timedelta(days=200), end=now), comment=comment)


def created(api: UebaClient, comment: str) -> list[str]:
    return [dataset.id for dataset in api.list_datasets().items if dataset.comment == comment]


@pytest.fixture
def dataset_id(api: UebaClient, comment: str) -> Iterator[str]:
    """A dataset made directly (not through the proxy); deleted afterwards, which stops its training."""
    made = api.create_dataset(new_dataset(comment))
    yield made
    with contextlib.suppress(NotFoundError):
        api.delete_dataset(made)


def runs(api: UebaClient, dataset_id: str) -> int:
    return len(api.get_dataset(dataset_id).training_results)


def timed(call: object) -> tuple[BaseException | object, float]:
    started = time.monotonic()
    try:
        outcome = call()  # type: ignore[operator]
    except Exception as error:  # the test asserts its type
        outcome = error
    return outcome, time.monotonic() - started


# Reads: retried through the fault


@pytest.mark.parametrize("fault", [Fault.DROP_BEFORE, Fault.DROP_AFTER, Fault.GATEWAY_502, Fault.GATEWAY_503,
                                   Fault.TRUNCATE])
def test_a_read_is_retried_through_one_fault(
    proxy: FaultProxy, reference_server: RunningServer, fault: Fault
) -> None:
    client = via(proxy, reference_server)
    proxy.inject(f"GET {DATASETS}", fault)

    outcome, elapsed = timed(client.list_datasets)

    assert not isinstance(outcome, Exception), outcome
    assert proxy.attempts(f"GET {DATASETS}") == 2
    assert elapsed < FIRST_PAUSE[1] + SLACK


def test_a_read_meeting_503_pages_every_time_fails_after_its_retries(
    proxy: FaultProxy, reference_server: RunningServer
) -> None:
    client = via(proxy, reference_server)
    proxy.inject("GET", *[Fault.GATEWAY_503] * 3)

    outcome, elapsed = timed(client.get_status)

    assert isinstance(outcome, ServerError)
    assert outcome.status_code == 503
    # The gateway's page told by its text, not its markup.
    assert str(outcome) == (
        f"HTTP 503 Service Temporarily Unavailable from GET {proxy.url}{API_PREFIX}/status: "
        "a web page saying “503 Service Temporarily Unavailable nginx”")
    assert not outcome.may_have_acted
    assert proxy.attempts(f"GET {API_PREFIX}/status") == 3
    # Two pauses: 0.25..0.5 s, then 0.5..1 s.
    assert 0.75 <= elapsed < 1.5 + SLACK


def test_a_stalled_read_times_out_on_each_attempt(proxy: FaultProxy, reference_server: RunningServer) -> None:
    client = via(proxy, reference_server, timeout=1.0, max_retries=1, deadline=10.0)
    client.get_status()  # log in first, so the stalls meet the call itself
    proxy.inject(f"GET {API_PREFIX}/status", Fault.STALL, Fault.STALL)

    outcome, elapsed = timed(client.get_status)

    assert isinstance(outcome, ApiTimeoutError)
    assert str(outcome).endswith("timed out waiting for the answer")
    assert proxy.attempts(f"GET {API_PREFIX}/status") == 1 + 2
    assert 2 * 1.0 + FIRST_PAUSE[0] <= elapsed < 2 * 1.0 + FIRST_PAUSE[1] + SLACK


def test_a_trickled_read_ends_at_the_deadline(proxy: FaultProxy, reference_server: RunningServer) -> None:
    client = via(proxy, reference_server, timeout=1.0, deadline=2.0)
    client.get_status()
    proxy.trickle_interval = 0.05  # some 300 bytes: 15 s, each byte well inside the 1 s read timeout
    proxy.inject(f"GET {API_PREFIX}/status", Fault.TRICKLE)

    outcome, elapsed = timed(client.get_status)

    assert isinstance(outcome, ApiTimeoutError)
    assert "no complete answer within its deadline of 2 s" in str(outcome)
    assert proxy.attempts(f"GET {API_PREFIX}/status") == 1 + 1
    assert 2.0 <= elapsed < 2.0 + SLACK


# Creates: never twice


@pytest.mark.parametrize(
    ("fault", "error_type", "acted"),
    [(Fault.DROP_BEFORE, ApiConnectionError, False), (Fault.DROP_AFTER, ApiConnectionError, True),
     (Fault.GATEWAY_502, ServerError, False), (Fault.GATEWAY_502_AFTER, ServerError, True),
     (Fault.TRUNCATE, ApiConnectionError, True), (Fault.TRUNCATE_CLEAN, ApiResponseValidationError, True)],
    ids=lambda value: getattr(value, "name", getattr(value, "__name__", str(value))),
)
def test_a_create_meeting_a_fault_is_not_sent_again(
    proxy: FaultProxy, reference_server: RunningServer, api: UebaClient, comment: str, fault: Fault,
    error_type: type[Exception], acted: bool,
) -> None:
    client = via(proxy, reference_server)
    proxy.inject(f"POST {DATASETS}", fault)

    outcome, elapsed = timed(lambda: client.create_dataset(new_dataset(comment)))

    assert type(outcome) is error_type
    assert MAY_HAVE_ACTED in str(outcome)
    assert outcome.may_have_acted, "the client cannot tell a drop before the server from one after it"
    assert proxy.attempts(f"POST {DATASETS}") == 1
    assert len(created(api, comment)) == (1 if acted else 0)
    assert elapsed < SLACK


@pytest.mark.parametrize("fault", [Fault.DROP_BEFORE, Fault.DROP_AFTER, Fault.GATEWAY_502, Fault.STALL])
def test_a_create_whose_login_meets_a_fault_is_sent_once(
    proxy: FaultProxy, reference_server: RunningServer, api: UebaClient, comment: str, fault: Fault
) -> None:
    client = via(proxy, reference_server, timeout=1.0)
    proxy.inject("POST /auth/", fault)

    outcome, elapsed = timed(lambda: client.create_dataset(new_dataset(comment)))

    assert isinstance(outcome, str), outcome
    assert created(api, comment) == [outcome]
    assert (proxy.attempts("POST /auth/"), proxy.attempts(f"POST {DATASETS}")) == (2, 1)
    # A stalled login costs its 1 s read timeout; each first retry pauses up to 0.5 s.
    assert elapsed < 1.0 + FIRST_PAUSE[1] + SLACK


# Trains: never twice, and the error says the training may have started


@pytest.mark.parametrize(
    ("fault", "error_type"),
    [(Fault.DROP_AFTER, ApiConnectionError), (Fault.GATEWAY_502_AFTER, ServerError),
     (Fault.STALL, ApiTimeoutError), (Fault.TRUNCATE, ApiConnectionError),
     (Fault.TRUNCATE_CLEAN, ApiResponseValidationError)],
    ids=lambda value: getattr(value, "name", getattr(value, "__name__", str(value))),
)
def test_a_train_meeting_a_fault_says_it_may_have_started_and_runs_once(
    proxy: FaultProxy, reference_server: RunningServer, api: UebaClient, dataset_id: str, fault: Fault,
    error_type: type[Exception],
) -> None:
    client = via(proxy, reference_server, timeout=2.0)
    proxy.inject(f"POST {API_PREFIX}/train/", fault)

    outcome, elapsed = timed(lambda: client.train_dataset(dataset_id))

    assert type(outcome) is error_type
    assert TRAINING_MAY_HAVE_STARTED in str(outcome)
    assert outcome.may_have_acted
    assert proxy.attempts(f"POST {API_PREFIX}/train/") == 1
    assert runs(api, dataset_id) == 1
    assert elapsed < (2.0 if fault is Fault.STALL else 0) + SLACK


# A DELETE whose answer was lost


def test_a_delete_whose_answer_was_lost_succeeds_on_its_retry(
    proxy: FaultProxy, reference_server: RunningServer, api: UebaClient, dataset_id: str
) -> None:
    client = via(proxy, reference_server)
    proxy.inject(f"DELETE {DATASETS}/", Fault.GATEWAY_502_AFTER)

    outcome, elapsed = timed(lambda: client.delete_dataset(dataset_id))

    assert outcome is None
    assert proxy.attempts(f"DELETE {DATASETS}/") == 2
    with pytest.raises(NotFoundError):
        api.get_dataset(dataset_id)
    assert elapsed < FIRST_PAUSE[1] + SLACK
