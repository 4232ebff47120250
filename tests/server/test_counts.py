"""query-connection-count against a brute-force numpy count over the very connections the server holds:
half-open ranges, open bounds, overlapping, nested, touching and out-of-range exclusions."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from ueba_api import Period, TimeRange, UebaClient
from ueba_server.connections import (
    Window,
    count_in_window,
    from_microseconds,
    merge_periods,
    to_microseconds,
)
from ueba_server.launch import RunningServer


@pytest.fixture(scope="module")
def start_times(reference_server: RunningServer) -> np.ndarray:
    """Every connection start (µs, UTC) read straight from the server's SQLite file."""
    database = reference_server.data_dir / "ueba.sqlite3"
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as connection:
        rows = connection.execute("SELECT start_us FROM connections").fetchall()
    return np.array([row[0] for row in rows], dtype=np.int64)


def brute_force(times: np.ndarray, time_range: TimeRange) -> int:
    inside = np.ones(len(times), dtype=bool)
    if time_range.start is not None:
        inside &= times >= to_microseconds(time_range.start)
    if time_range.end is not None:
        inside &= times < to_microseconds(time_range.end)
    for period in time_range.exclude:
        inside &= ~((times >= to_microseconds(period.start)) & (times < to_microseconds(period.end)))
    return int(inside.sum())


def moment(times: np.ndarray, share: float) -> datetime:
    return from_microseconds(int(np.quantile(times, share)))


def test_empty_body_and_empty_object_count_everything(api: UebaClient, start_times: np.ndarray) -> None:
    assert api.count_connections() == len(start_times)
    assert api.count_connections(TimeRange()) == len(start_times)


def test_half_open_bounds_at_a_connection_start(api: UebaClient, start_times: np.ndarray) -> None:
    exact = from_microseconds(int(np.sort(start_times)[len(start_times) // 2]))
    one_microsecond = timedelta(microseconds=1)
    assert api.count_connections(TimeRange(start=exact, end=exact + one_microsecond)) >= 1
    assert api.count_connections(TimeRange(start=exact - one_microsecond, end=exact)) == brute_force(
        start_times, TimeRange(start=exact - one_microsecond, end=exact)
    )
    assert api.count_connections(TimeRange(end=exact)) + api.count_connections(TimeRange(start=exact)) == len(
        start_times
    )


def test_random_ranges_with_overlapping_exclusions_match_brute_force(
    api: UebaClient, start_times: np.ndarray
) -> None:
    rng = np.random.default_rng(2024)
    first, last = int(start_times.min()), int(start_times.max())
    span = last - first
    informative = 0
    for _ in range(25):
        low, high = np.sort(rng.integers(first - span // 10, last + span // 10, 2))
        periods = []
        for _ in range(rng.integers(0, 8)):
            start = int(rng.integers(low - span // 20, high))
            periods.append(
                Period(
                    start=from_microseconds(start),
                    end=from_microseconds(start + int(rng.integers(1, span // 5))),
                )
            )
        periods += periods[:1]  # the same period twice is subtracted once
        time_range = TimeRange(
            start=None if rng.random() < 0.2 else from_microseconds(int(low)),
            end=None if rng.random() < 0.2 else from_microseconds(int(high)),
            exclude=periods,
        )
        expected = brute_force(start_times, time_range)
        assert api.count_connections(time_range) == expected, time_range
        informative += 0 < expected < len(start_times)
    assert informative >= 10  # most draws cut through the data rather than missing it


def test_nested_touching_and_outside_exclusions(api: UebaClient, start_times: np.ndarray) -> None:
    start, end = moment(start_times, 0.2), moment(start_times, 0.8)
    middle = moment(start_times, 0.5)
    day = timedelta(days=1)
    time_range = TimeRange(
        start=start,
        end=end,
        exclude=[
            Period(start=middle - 5 * day, end=middle + 5 * day),
            Period(start=middle - day, end=middle + day),  # nested
            Period(start=middle + 5 * day, end=middle + 6 * day),  # touching
            Period(start=start - 30 * day, end=start + day),  # sticks out before
            Period(start=end + day, end=end + 2 * day),  # wholly outside
        ],
    )
    expected = brute_force(start_times, time_range)
    assert 0 < expected < len(start_times)
    assert api.count_connections(time_range) == expected


def test_a_range_without_connections_counts_zero(api: UebaClient) -> None:
    far_past = datetime(2001, 1, 1, tzinfo=UTC)
    assert api.count_connections(TimeRange(start=far_past, end=far_past + timedelta(days=30))) == 0


def test_merge_periods_joins_overlapping_and_touching_periods_only() -> None:
    periods = np.array([[5, 8], [1, 3], [2, 4], [8, 9], [6, 7], [11, 12]], dtype=np.int64)
    assert merge_periods(periods).tolist() == [[1, 4], [5, 9], [11, 12]]
    assert merge_periods(np.empty((0, 2), dtype=np.int64)).shape == (0, 2)


def test_count_in_window_on_random_data_matches_brute_force() -> None:
    rng = np.random.default_rng(7)
    times = np.sort(rng.integers(0, 1_000, 5_000))
    for _ in range(200):
        start, end = np.sort(rng.integers(-50, 1_050, 2))
        excluded = np.sort(rng.integers(-50, 1_050, (int(rng.integers(0, 6)), 2)), axis=1)
        excluded = excluded[excluded[:, 0] < excluded[:, 1]]
        keep = (times >= start) & (times < end)
        for low, high in excluded:
            keep &= ~((times >= low) & (times < high))
        window = Window(int(start), int(end), merge_periods(excluded))
        assert count_in_window(times, window) == keep.sum()
