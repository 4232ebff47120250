"""connections_per_day through the real UebaClient, over httpx.MockTransport, checking the wire bodies."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pandas as pd
import pytest

from ueba_api import UebaClient
from ueba_api.coverage import (
    COVERAGE_COLUMNS,
    MAX_BUCKETS,
    MAX_CONCURRENT_COUNTS,
    bucket_days,
    connections_per_day,
)
from ueba_api.errors import PermissionDeniedError
from ueba_api.models import TimeRange

BASE_URL = "https://privx.example.com"
COUNT_PATH = "/connection-manager/api/v1/ueba/query-connection-count"
TOKEN = "analysis-test-token"


class CountServer:
    """Answers count queries with day * 100 + hour of the period's start, and keeps every body."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []
        self.refuse = False

    def __call__(self, request: httpx.Request) -> httpx.Response:
        assert (request.method, request.url.path) == ("POST", COUNT_PATH)
        assert request.headers["authorization"] == f"Bearer {TOKEN}"
        if self.refuse:
            error = {"error_code": "PERMISSION_DENIED", "error_message": "Permission denied", "details": []}
            return httpx.Response(403, json=error)
        body = json.loads(request.content)
        self.bodies.append(body)
        start = datetime.fromisoformat(body["start"])
        return httpx.Response(200, json={"count": start.day * 100 + start.hour})

    def in_order(self) -> list[dict]:
        """The bodies by start time: the counts are sent concurrently, so they arrive in any order."""
        return sorted(self.bodies, key=lambda sent: sent["start"])


@pytest.fixture
def server() -> CountServer:
    return CountServer()


@pytest.fixture
def client(server: CountServer) -> Iterator[UebaClient]:
    with UebaClient(BASE_URL, token=TOKEN, transport=httpx.MockTransport(server), max_retries=0) as client:
        yield client


def body(start: str, end: str) -> dict:
    return {"start": start, "end": end, "exclude": []}


def test_one_count_per_utc_day_with_the_ends_cut_to_the_range(
    client: UebaClient, server: CountServer
) -> None:
    daily = connections_per_day(
        client, datetime(2024, 3, 1, 12, tzinfo=UTC), datetime(2024, 3, 4, 6, tzinfo=UTC)
    )

    assert server.in_order() == [
        body("2024-03-01T12:00:00Z", "2024-03-02T00:00:00Z"),
        body("2024-03-02T00:00:00Z", "2024-03-03T00:00:00Z"),
        body("2024-03-03T00:00:00Z", "2024-03-04T00:00:00Z"),
        body("2024-03-04T00:00:00Z", "2024-03-04T06:00:00Z"),
    ]
    assert list(daily.columns) == list(COVERAGE_COLUMNS)
    assert daily.dtypes.to_dict() == COVERAGE_COLUMNS
    assert daily["day"].tolist() == [
        pd.Timestamp("2024-03-01 12:00", tz="UTC"),
        pd.Timestamp("2024-03-02", tz="UTC"),
        pd.Timestamp("2024-03-03", tz="UTC"),
        pd.Timestamp("2024-03-04", tz="UTC"),
    ]
    assert daily["end"].iloc[-1] == pd.Timestamp("2024-03-04 06:00", tz="UTC")
    assert daily["count"].tolist() == [112, 200, 300, 400]


def test_naive_times_are_utc_and_a_midnight_range_gives_whole_days(
    client: UebaClient, server: CountServer
) -> None:
    daily = connections_per_day(client, datetime(2024, 2, 28), datetime(2024, 3, 1))

    assert server.in_order() == [
        body("2024-02-28T00:00:00Z", "2024-02-29T00:00:00Z"),
        body("2024-02-29T00:00:00Z", "2024-03-01T00:00:00Z"),
    ]
    assert daily["count"].tolist() == [2800, 2900]


def test_a_range_longer_than_the_bucket_cap_is_counted_per_week(
    client: UebaClient, server: CountServer
) -> None:
    start, end = datetime(2023, 1, 1, tzinfo=UTC), datetime(2024, 3, 1, tzinfo=UTC)  # 425 days
    weekly = connections_per_day(client, start, end)

    bodies = server.in_order()
    assert len(bodies) == len(weekly) == 61
    assert bodies[0] == body("2023-01-01T00:00:00Z", "2023-01-08T00:00:00Z")
    assert bodies[-1] == body("2024-02-25T00:00:00Z", "2024-03-01T00:00:00Z")
    lengths = (weekly["end"] - weekly["day"]).dt.days
    assert set(lengths.iloc[:-1]) == {7} and lengths.iloc[-1] == 5


@pytest.mark.parametrize(
    ("days", "expected"),
    [(1, 1), (MAX_BUCKETS, 1), (MAX_BUCKETS + 1, 7), (7 * MAX_BUCKETS, 7), (7 * MAX_BUCKETS + 1, 14)],
)
def test_bucket_days_keeps_the_number_of_requests_near_the_cap(days: int, expected: int) -> None:
    start = datetime(2020, 1, 1, tzinfo=UTC)
    assert bucket_days(start, start + pd.Timedelta(days=days)) == expected


@pytest.mark.parametrize("end", [datetime(2024, 3, 1, tzinfo=UTC), datetime(2024, 2, 1, tzinfo=UTC)])
def test_a_range_that_does_not_end_after_it_starts_is_refused_before_any_request(
    client: UebaClient, server: CountServer, end: datetime
) -> None:
    with pytest.raises(ValueError, match="end: must be after start"):
        connections_per_day(client, datetime(2024, 3, 1, tzinfo=UTC), end)
    assert server.in_order() == []


def test_an_api_error_reaches_the_caller_as_the_clients_typed_error(
    client: UebaClient, server: CountServer
) -> None:
    server.refuse = True
    with pytest.raises(PermissionDeniedError):
        connections_per_day(client, datetime(2024, 3, 1), datetime(2024, 3, 2))


class SlowCounter:
    """Counts after a pause, as a PrivX 50 ms away would answer; records how many counts ran at once."""

    def __init__(self, pause: float) -> None:
        self.pause = pause
        self.running = 0
        self.most_at_once = 0
        self._lock = threading.Lock()

    def count_connections(self, time_range: TimeRange | None = None) -> int:
        with self._lock:
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        time.sleep(self.pause)
        with self._lock:
            self.running -= 1
        return time_range.start.day


def test_the_days_are_counted_concurrently_with_a_bounded_pool() -> None:
    counter = SlowCounter(pause=0.05)
    started = time.monotonic()
    daily = connections_per_day(counter, datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 3, 1, tzinfo=UTC))
    elapsed = time.monotonic() - started
    assert len(daily) == 60
    assert daily["count"].tolist()[:3] == [1, 2, 3], "each day keeps its own count, in order"
    assert counter.most_at_once == MAX_CONCURRENT_COUNTS
    # One at a time, 60 counts would take 3 s; eight at a time, 8 rounds of 50 ms.
    assert elapsed < 60 * 0.05 / 2, f"{elapsed:.2f} s"


def test_days_before_today_are_asked_once_per_client(client: UebaClient, server: CountServer) -> None:
    start, end = datetime(2024, 2, 26, tzinfo=UTC), datetime(2024, 3, 2, tzinfo=UTC)
    now = datetime(2024, 3, 1, 12, tzinfo=UTC)  # the last bucket, 1 March, is today: it may still grow
    first = connections_per_day(client, start, end, now=now)
    assert len(server.bodies) == 5
    again = connections_per_day(client, start, end, now=now)
    assert again.equals(first)
    assert server.bodies[5:] == [body("2024-03-01T00:00:00Z", "2024-03-02T00:00:00Z")], "only today again"


def test_a_caller_may_keep_the_settled_counts_itself(server: CountServer) -> None:
    """The app keeps one mapping per server; a new client (a new session) then asks nothing it had."""
    kept: dict[str, int] = {}
    start, end = datetime(2024, 2, 26, tzinfo=UTC), datetime(2024, 3, 1, tzinfo=UTC)
    for _ in range(2):
        with UebaClient(BASE_URL, token=TOKEN, transport=httpx.MockTransport(server)) as fresh:
            connections_per_day(fresh, start, end, kept, now=datetime(2024, 3, 5, tzinfo=UTC))
    assert len(server.bodies) == 4 and len(kept) == 4
