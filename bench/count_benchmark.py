"""query-connection-count: the server's sorted-array count against an indexed SQL count and a full scan.

    python -m bench.count_benchmark [--sizes 1000000 10000000] [--exclusions 20] [--queries 50]

For each store size, random ranges with overlapping exclusions are counted three ways (all three must
agree): `searchsorted` on the server's in-memory sorted start times (what the server does), SQLite
`COUNT(*)` on the indexed column, and a numpy mask over every row (a full scan). Then the same
queries go over HTTP to a reference server started on that store. Prints median times per query and
the ratios against the server's way, plus the one-off cost of loading the sorted array at start.

In `python -m bench` (`count_latency`), on 10M rows (also with --quick: a store written by SQLite in
seconds, see `bench.stores.counting_store`) it also takes the p95 of counts over HTTP, in turns with a
pandas mask count of the same queries over the same start times in memory, and the server's peak RSS:
p95 at most 50 ms, at least 20x faster than pandas, RSS at most 1.5 GiB.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from bench import benchmark_parser
from bench.harness import Verdict, detail, peak_rss_bytes, percentile, take_turns, wait_for_standby
from bench.stores import build_store, counting_store
from ueba_api.models import Period, TimeRange
from ueba_server.config import ServerConfig
from ueba_server.connections import (
    ConnectionStore,
    Window,
    count_in_window,
    from_microseconds,
    merge_periods,
)
from ueba_server.database import Database
from ueba_server.launch import RunningServer, start_server

ROWS = 10_000_000
EXCLUSIONS = 20
LATENCY_QUERIES, QUICK_LATENCY_QUERIES = 200, 60
TABLE_QUERIES, QUICK_TABLE_QUERIES = 20, 5
MAX_P95_SECONDS = 0.050
MIN_PANDAS_RATIO = 20.0
MAX_RSS_BYTES = 1.5 * 2**30


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


def pandas_count(times: pd.Series, window: Window) -> int:
    """What an analyst with the rows in a DataFrame would write: a boolean mask, summed."""
    keep = (times >= window.start_us) & (times < window.end_us)
    for start, end in window.excluded:
        keep &= ~((times >= start) & (times < end))
    return int(keep.sum())


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


HEADER = (f"{'rows':>11} {'load s':>7} {'server µs':>10} {'SQL ms':>9} {'scan ms':>9} {'HTTP ms':>8} "
          f"{'SQL/server':>11} {'scan/server':>12}")  # fmt: skip


def measure(
    data_dir: Path, size: int, queries: int, exclusions: int, latency_queries: int = 0
) -> tuple[str, Verdict | None]:
    """The table's line for the store in `data_dir` (`size` rows); with `latency_queries`, also the
    count_latency verdict."""
    store = ConnectionStore(Database(ServerConfig(data_dir=data_dir).database_path))
    started = time.perf_counter()
    times = store.sorted_start_times()
    load = time.perf_counter() - started
    windows = random_windows(times, queries, exclusions)

    scan_way, expected = median_seconds(partial(full_scan_count, times), windows)
    server_way, by_server = median_seconds(partial(count_in_window, times), windows)
    sql_way, by_sql = median_seconds(partial(sql_count, store), windows)
    verdict = None
    with start_server(data_dir) as server, server.client() as api:
        wait_for_standby(server)
        http_way, by_http = median_seconds(
            lambda window: api.count_connections(as_time_range(window)), windows
        )
        if latency_queries:
            verdict = latency_against_pandas(
                server, times, random_windows(times, latency_queries, exclusions, 2)
            )
    assert by_server == by_sql == by_http == expected, "the ways of counting disagree"
    return (
        f"{size:>11,} {load:>7.2f} {server_way * 1e6:>10.0f} {sql_way * 1e3:>9.1f} {scan_way * 1e3:>9.1f} "
        f"{http_way * 1e3:>8.1f} {sql_way / server_way:>11,.0f} {scan_way / server_way:>12,.0f}"
    ), verdict


def latency_against_pandas(server: RunningServer, times: np.ndarray, windows: list[Window]) -> Verdict:
    """Counts over HTTP and with pandas in turns, query by query; then the server's peak RSS."""
    frame_times = pd.Series(times)
    http: list[float] = []
    masked: list[float] = []
    with server.client() as api:
        api.count_connections(as_time_range(windows[0]))  # the token and the connection
        for window in windows:
            turn = take_turns(1, {
                "http": lambda window=window: api.count_connections(as_time_range(window)),
                "pandas": lambda window=window: pandas_count(frame_times, window),
            })  # fmt: skip
            http += turn["http"]
            masked += turn["pandas"]
    p95, pandas_median = percentile(http, 0.95), statistics.median(masked)
    rss = peak_rss_bytes(server.pid)
    detail(
        f"HTTP p50 {statistics.median(http) * 1e3:.1f} ms, p95 {p95 * 1e3:.1f} ms; pandas mask count"
        f" p50 {pandas_median * 1e3:.1f} ms; server peak RSS {rss / 2**30:.2f} GiB ({len(windows)} queries)"
    )
    ratio = pandas_median / p95
    return Verdict(
        "count_latency",
        f"p95 {p95 * 1e3:.1f} ms over HTTP, pandas {ratio:.0f}x slower, server peak RSS {rss / 2**30:.2f} GiB"
        f" on {len(times):,} rows",
        f"p95 <= {MAX_P95_SECONDS * 1e3:.0f} ms, >= {MIN_PANDAS_RATIO:.0f}x, <= {MAX_RSS_BYTES / 2**30} GiB",
        p95 <= MAX_P95_SECONDS and ratio >= MIN_PANDAS_RATIO and rss <= MAX_RSS_BYTES,
    )


def run(quick: bool) -> Verdict:
    """On a store only for counting (`bench.stores.counting_store`): 10M rows in seconds, --quick too."""
    with tempfile.TemporaryDirectory(prefix="ueba-bench-") as data_dir:
        seconds = counting_store(Path(data_dir), ROWS)
        detail(f"{ROWS:,} rows written in {seconds:.0f} s (start times only differ)")
        detail(HEADER)
        line, verdict = measure(
            Path(data_dir),
            ROWS,
            QUICK_TABLE_QUERIES if quick else TABLE_QUERIES,
            EXCLUSIONS,
            QUICK_LATENCY_QUERIES if quick else LATENCY_QUERIES,
        )
    detail(line)
    assert verdict is not None
    return verdict


def main() -> None:
    parser = benchmark_parser(__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--exclusions", type=int, default=20)
    parser.add_argument("--queries", type=int, default=50)
    options = parser.parse_args()

    print(HEADER)
    for size in options.sizes:
        with tempfile.TemporaryDirectory(prefix="ueba-bench-") as data_dir:
            build_store(Path(data_dir), size)
            print(measure(Path(data_dir), size, options.queries, options.exclusions)[0], flush=True)


if __name__ == "__main__":
    main()
