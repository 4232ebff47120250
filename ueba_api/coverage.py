"""Connections per day over a time range, counted through the API, for the coverage timeline.

One `count_connections` request per bucket. Buckets are UTC days from midnight to midnight, the first
and last cut to the range. A range longer than MAX_BUCKETS days is counted per week instead (per
several weeks beyond MAX_BUCKETS weeks), so a timeline never costs more than about MAX_BUCKETS
requests; long buckets start on the range's first midnight, not on a Monday.

Exclusions are not applied: the chart shades them, so the analyst sees what they cut.
"""

from __future__ import annotations

import math
from datetime import datetime
from itertools import pairwise
from typing import Protocol

import pandas as pd

from ueba_api.frames import UTC_DTYPE, typed_frame
from ueba_api.models import TimeRange, as_utc, format_utc

MAX_BUCKETS = 400
COVERAGE_COLUMNS = {"day": UTC_DTYPE, "end": UTC_DTYPE, "count": "int64"}


class ConnectionCounter(Protocol):
    """Anything that counts connections like `UebaClient.count_connections`."""

    def count_connections(self, time_range: TimeRange | None = None) -> int: ...


def bucket_days(start: datetime, end: datetime) -> int:
    """How many days one bucket spans for this range: 1, or whole weeks for long ranges."""
    first_midnight = pd.Timestamp(as_utc(start)).floor("D")
    days = math.ceil((pd.Timestamp(as_utc(end)) - first_midnight) / pd.Timedelta(days=1))
    if days <= MAX_BUCKETS:
        return 1
    return 7 * math.ceil(days / (7 * MAX_BUCKETS))


def connections_per_day(counter: ConnectionCounter, start: datetime, end: datetime) -> pd.DataFrame:
    """Columns day (bucket start, UTC), end (bucket end, exclusive) and count, one row per bucket.

    Naive datetimes are UTC. ValueError if `end` is not after `start`.
    """
    start, end = as_utc(start), as_utc(end)
    if end <= start:
        raise ValueError(f"end: must be after start, got start {format_utc(start)} and end {format_utc(end)}")
    first, last = pd.Timestamp(start), pd.Timestamp(end)
    step = pd.Timedelta(days=bucket_days(start, end))
    inner_edges = pd.date_range(first.floor("D") + step, last, freq=step, inclusive="left")
    rows = []
    for bucket_start, bucket_end in pairwise([first, *inner_edges, last]):
        time_range = TimeRange(start=bucket_start.to_pydatetime(), end=bucket_end.to_pydatetime())
        rows.append({"day": bucket_start, "end": bucket_end, "count": counter.count_connections(time_range)})
    return typed_frame(rows, COVERAGE_COLUMNS)
