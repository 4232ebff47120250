"""Property: `query-connection-count` equals a brute-force count over the connections the server holds, for
random ranges and exclusions: open or closed bounds, overlapping, nested and touching exclusions, empty
windows, and moments outside the data. Moments are drawn from the connections' own start times (exactly,
or a microsecond either side) and from far outside the data, so the edges are hit often.

The fast part derandomizes hypothesis (the same cases each run); `slow` runs many more, random ones.
"""

from __future__ import annotations

import itertools
import sqlite3
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.server.test_counts import brute_force
from ueba_api import Period, TimeRange, UebaClient
from ueba_server.launch import RunningServer

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)
FAST_EXAMPLES = 80
SLOW_EXAMPLES = 1500


@pytest.fixture(scope="module")
def start_times(reference_server: RunningServer) -> np.ndarray:
    """Every connection start (µs since the epoch, UTC), sorted, read straight from the server's SQLite."""
    database = reference_server.data_dir / "ueba.sqlite3"
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as connection:
        rows = connection.execute("SELECT start_us FROM connections").fetchall()
    return np.sort(np.array([row[0] for row in rows], dtype=np.int64))


def moments(times: np.ndarray) -> st.SearchStrategy[datetime]:
    """A connection's start, a microsecond either side of one, or a moment days outside the data."""
    def at(index: int, nudge: int) -> datetime:
        return EPOCH + int(times[index]) * MICROSECOND + nudge * MICROSECOND

    near_data = st.builds(at, st.integers(0, len(times) - 1), st.sampled_from([-1, 0, 0, 1]))
    outside = st.builds(lambda days: EPOCH + int(times[0 if days < 0 else -1]) * MICROSECOND
                        + timedelta(days=days), st.integers(-400, 400).filter(lambda days: days != 0))
    return st.one_of(near_data, near_data, outside)


@st.composite
def time_ranges(draw: st.DrawFn, times: np.ndarray) -> TimeRange:
    """A valid range: bounds in order (either may be open), and up to six exclusions, each from two
    moments of one small pool, so exclusions often share an end (touch) or overlap."""
    pool = draw(st.lists(moments(times), min_size=2, max_size=8, unique=True))
    start = draw(st.none() | st.sampled_from(pool))
    end = draw(st.none() | st.sampled_from(pool))
    if start is not None and end is not None:
        if start == end:
            end = None
        else:
            start, end = min(start, end), max(start, end)
    pairs = draw(st.lists(st.tuples(st.sampled_from(pool), st.sampled_from(pool))
                          .filter(lambda pair: pair[0] != pair[1]), max_size=6))
    exclude = [Period(start=min(pair), end=max(pair)) for pair in pairs]
    return TimeRange(start=start, end=end, exclude=exclude)


def check_counts(api: UebaClient, times: np.ndarray, examples: int, *, derandomize: bool) -> None:
    @settings(max_examples=examples, deadline=None, database=None, derandomize=derandomize,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
    @given(time_range=time_ranges(times))
    def count_is_brute_force(time_range: TimeRange) -> None:
        assert api.count_connections(time_range) == brute_force(times, time_range), time_range

    count_is_brute_force()


def test_count_equals_brute_force_for_random_ranges(api: UebaClient, start_times: np.ndarray) -> None:
    check_counts(api, start_times, FAST_EXAMPLES, derandomize=True)


@pytest.mark.slow
def test_count_equals_brute_force_for_many_random_ranges(api: UebaClient, start_times: np.ndarray) -> None:
    check_counts(api, start_times, SLOW_EXAMPLES, derandomize=False)


def test_the_strategy_reaches_the_edges(start_times: np.ndarray) -> None:
    """The generated ranges do hold the shapes the property is about (checked on a fixed sample)."""
    seen: set[str] = set()

    @settings(max_examples=FAST_EXAMPLES, database=None, derandomize=True)
    @given(time_range=time_ranges(start_times))
    def classify(time_range: TimeRange) -> None:
        periods = sorted((period.start, period.end) for period in time_range.exclude)
        for (_, first_end), (second_start, _) in itertools.pairwise(periods):
            if first_end == second_start:
                seen.add("touching")
            elif second_start < first_end:
                seen.add("overlapping")
        if time_range.start is None or time_range.end is None:
            seen.add("open bound")
        if brute_force(start_times, time_range) == 0:
            seen.add("empty")
        first, last = (EPOCH + int(start_times[i]) * MICROSECOND for i in (0, -1))
        if any(period.end <= first or period.start > last for period in time_range.exclude):
            seen.add("exclusion outside the data")

    classify()
    assert seen >= {"touching", "overlapping", "open bound", "empty", "exclusion outside the data"}
