"""query-connection-count: the server's sorted-array count against an indexed SQL count and a full scan.

    python -m bench.count_benchmark [--sizes 1000000 10000000] [--exclusions 20] [--queries 200]

For each store size, random ranges with overlapping exclusions are counted three ways (all three must
agree): `searchsorted` on the server's in-memory sorted start times (what the server does), SQLite
`COUNT(*)` on the indexed column, and a numpy mask over every row (a full scan). Then the same
queries go over HTTP to a reference server started on that store. Prints median times per query and
the ratios against the server's way, plus the one-off cost of loading the sorted array at start.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np

from bench import benchmark_parser
from bench.stores import build_store
from ueba_api.models import Period, TimeRange
from ueba_server.connections import (
    ConnectionStore,
    Window,
    count_in_window,
    from_microseconds,
    merge_periods,
)
from ueba_server.launch import start_server


def random_windows(times: np.ndarray, queries: int, exclusions: int, seed: int = 1) -> list[Window]:
    rng = np.random.default_rng(seed)
    first, last = int(times[0]), int(times[-1])
    windows = []
    for _ in range(queries):
        start, end = np.sort(rng.integers(first, last, 2))
        starts = rng.integers(start, end, exclusions)
        periods = np.column_stack([starts, starts + rng.integers(1, (end - start) // 10 + 2, exclusions)])
        windows.append(Window(int(start), int(end), merge_periods(periods)))
    return windows


def sql_count(store: ConnectionStore, window: Window) -> int:
    excluded = window.clipped_exclusions()
    clauses = " ".join("AND NOT (start_us >= ? AND start_us < ?)" for _ in excluded)
    query = f"SELECT COUNT(*) FROM connections WHERE start_us >= ? AND start_us < ? {clauses}"
    with store.database.connect() as connection:
        return connection.execute(
            query, [window.start_us, window.end_us, *excluded.ravel().tolist()]
        ).fetchone()[0]


def full_scan_count(times: np.ndarray, window: Window) -> int:
    keep = (times >= window.start_us) & (times < window.end_us)
    for start, end in window.excluded:
        keep &= ~((times >= start) & (times < end))
    return int(keep.sum())


def as_time_range(window: Window) -> TimeRange:
    return TimeRange(
        start=from_microseconds(window.start_us),
        end=from_microseconds(window.end_us),
        exclude=[Period(start=from_microseconds(s), end=from_microseconds(e)) for s, e in window.excluded],
    )


def median_seconds(count: Callable[[Window], int], windows: list[Window]) -> tuple[float, list[int]]:
    """The median time of one count, and the counts."""
    durations, counts = [], []
    for window in windows:
        started = time.perf_counter()
        counts.append(count(window))
        durations.append(time.perf_counter() - started)
    return statistics.median(durations), counts


def measure(data_dir: Path, size: int, queries: int, exclusions: int) -> str:
    store = build_store(data_dir, size).store
    started = time.perf_counter()
    times = store.sorted_start_times()
    load = time.perf_counter() - started
    windows = random_windows(times, queries, exclusions)

    scan_way, expected = median_seconds(partial(full_scan_count, times), windows)
    server_way, by_server = median_seconds(partial(count_in_window, times), windows)
    sql_way, by_sql = median_seconds(partial(sql_count, store), windows)
    with start_server(data_dir) as server, server.client() as api:
        http_way, by_http = median_seconds(
            lambda window: api.count_connections(as_time_range(window)), windows
        )
    assert by_server == by_sql == by_http == expected, "the ways of counting disagree"
    return (
        f"{size:>11,} {load:>7.2f} {server_way * 1e6:>10.0f} {sql_way * 1e3:>9.1f} {scan_way * 1e3:>9.1f} "
        f"{http_way * 1e3:>8.1f} {sql_way / server_way:>11,.0f} {scan_way / server_way:>12,.0f}"
    )


def main() -> None:
    parser = benchmark_parser(__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--exclusions", type=int, default=20)
    parser.add_argument("--queries", type=int, default=50)
    options = parser.parse_args()

    print(f"{'rows':>11} {'load s':>7} {'server µs':>10} {'SQL ms':>9} {'scan ms':>9} {'HTTP ms':>8} "
          f"{'SQL/server':>11} {'scan/server':>12}")  # fmt: skip
    for size in options.sizes:
        with tempfile.TemporaryDirectory(prefix="ueba-bench-") as data_dir:
            print(measure(Path(data_dir), size, options.queries, options.exclusions), flush=True)


if __name__ == "__main__":
    main()
