"""Connections per day over a time range, counted through the API, for the coverage timeline.

One `count_connections` request per bucket, sent concurrently (at most `MAX_CONCURRENT_COUNTS` at once,
so a PrivX 50 ms away answers a year in about a second, not 18 s). Buckets are UTC days from midnight
to midnight, the first and last cut to the range. A range longer than MAX_BUCKETS days is counted per
week instead (per several weeks beyond MAX_BUCKETS weeks), so a timeline never costs more than about
MAX_BUCKETS requests; long buckets start on the range's first midnight, not on a Monday.

Exclusions are not applied: the chart shades them, so the analyst sees what they cut.

A bucket that ended before today (UTC) no longer changes: its count is asked once and kept, by default
per counter object (a `UebaClient` is one server and one session), or in the mapping the caller passes
(the app keeps one per server).
"""

from __future__ import annotations

import math
import threading
import weakref
from collections.abc import Callable, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from itertools import pairwise
from typing import Protocol

import pandas as pd

from ueba_api.frames import UTC_DTYPE, typed_frame
from ueba_api.models import TimeRange, as_utc, format_utc

MAX_BUCKETS = 400
MAX_CONCURRENT_COUNTS = 8
COVERAGE_COLUMNS = {"day": UTC_DTYPE, "end": UTC_DTYPE, "count": "int64"}


class CountsConnections(Protocol):
    """Anything that counts connections like `UebaClient.count_connections`."""

    def count_connections(self, time_range: TimeRange | None = None) -> int: ...


def bucket_days(start: datetime, end: datetime) -> int:
    """How many days one bucket spans for this range: 1, or whole weeks for long ranges."""
    first_midnight = pd.Timestamp(as_utc(start)).floor("D")
    days = math.ceil((pd.Timestamp(as_utc(end)) - first_midnight) / pd.Timedelta(days=1))
    if days <= MAX_BUCKETS:
        return 1
    return 7 * math.ceil(days / (7 * MAX_BUCKETS))


def buckets(start: datetime, end: datetime) -> list[TimeRange]:
    """The timeline's buckets for a range: UTC days (weeks for long ranges), the first and last cut to it.

    Naive datetimes are UTC. ValueError if `end` is not after `start`.
    """
    start, end = as_utc(start), as_utc(end)
    if end <= start:
        raise ValueError(f"end: must be after start, got start {format_utc(start)} and end {format_utc(end)}")
    first, last = pd.Timestamp(start), pd.Timestamp(end)
    step = pd.Timedelta(days=bucket_days(start, end))
    inner_edges = pd.date_range(first.floor("D") + step, last, freq=step, inclusive="left")
    return [TimeRange(start=bucket_start.to_pydatetime(), end=bucket_end.to_pydatetime())
            for bucket_start, bucket_end in pairwise([first, *inner_edges, last])]


# Counts of past buckets per counter object; an entry goes with its counter.
_SETTLED: weakref.WeakKeyDictionary[object, dict[str, int]] = weakref.WeakKeyDictionary()
_SETTLED_LOCK = threading.Lock()


def _settled_counts_of(counter: CountsConnections) -> MutableMapping[str, int] | None:
    try:
        with _SETTLED_LOCK:
            return _SETTLED.setdefault(counter, {})
    except TypeError:  # a counter that cannot be weakly referenced: nothing is kept
        return None


def connections_per_day(
    counter: CountsConnections,
    start: datetime,
    end: datetime,
    settled_counts: MutableMapping[str, int] | None = None,
    now: datetime | None = None,
) -> pd.DataFrame:
    """Columns day (bucket start, UTC), end (bucket end, exclusive) and count, one row per bucket.

    The counts are asked concurrently, `MAX_CONCURRENT_COUNTS` at a time, so `counter` must be safe to
    call from several threads (`UebaClient` is). Those of buckets that ended before today (`now`'s UTC
    day) come from `settled_counts` when there, and go into it otherwise (see the module docstring).
    Naive datetimes are UTC. ValueError if `end` is not after `start`; the first failed count is raised.
    """
    ranges = buckets(start, end)
    settled = settled_counts if settled_counts is not None else _settled_counts_of(counter)
    today = pd.Timestamp(as_utc(now or datetime.now(UTC))).floor("D")

    def count(time_range: TimeRange) -> int:
        if settled is None or pd.Timestamp(time_range.end) > today:
            return counter.count_connections(time_range)
        key = time_range.model_dump_json()
        if key not in settled:
            settled[key] = counter.count_connections(time_range)
        return settled[key]

    with ThreadPoolExecutor(max_workers=min(MAX_CONCURRENT_COUNTS, len(ranges))) as pool:
        counts = list(pool.map(count, ranges))
    rows = [{"day": pd.Timestamp(time_range.start), "end": pd.Timestamp(time_range.end), "count": count}
            for time_range, count in zip(ranges, counts, strict=True)]
    return typed_frame(rows, COVERAGE_COLUMNS)


# Where the search for the first connection starts: nothing a PrivX records is older.
HISTORY_SEARCH_START = datetime(1970, 1, 1, tzinfo=UTC)


def _smallest_day(first: int, last: int, holds: Callable[[int], bool]) -> int:
    """The smallest day number in [first, last] for which `holds` (False, then True from there on) is True."""
    while first < last:
        middle = (first + last) // 2
        if holds(middle):
            last = middle
        else:
            first = middle + 1
    return first


def history_span(counter: CountsConnections, now: datetime | None = None) -> tuple[datetime, datetime] | None:
    """The whole UTC days that hold connections: (midnight of the first day, midnight after the last day).

    A PrivX has no call for its first or last connection, so this bisects with count queries, about
    2·log2(days since 1970) ≈ 30 of them. None when there are no connections at all.
    """
    if counter.count_connections(TimeRange()) == 0:
        return None
    origin = pd.Timestamp(HISTORY_SEARCH_START)
    days = (pd.Timestamp(as_utc(now or datetime.now(UTC))).floor("D") - origin).days + 1
    # Connections stamped after today (a skewed clock) widen the search a year at a time.
    while counter.count_connections(TimeRange(start=_day(origin, days))) > 0:
        days += 366

    def any_before(day: int) -> bool:
        return counter.count_connections(TimeRange(end=_day(origin, day))) > 0

    def none_from(day: int) -> bool:
        return counter.count_connections(TimeRange(start=_day(origin, day))) == 0

    first_day = _smallest_day(0, days, any_before) - 1
    end_day = _smallest_day(first_day + 1, days, none_from)
    return _day(origin, first_day), _day(origin, end_day)


def _day(origin: pd.Timestamp, day: int) -> datetime:
    return (origin + pd.Timedelta(days=day)).to_pydatetime()
