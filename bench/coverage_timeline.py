"""A 365-day coverage timeline (`ueba_api.coverage.connections_per_day`) against a server 50 ms away.

The reference server (its default history) sits behind `bench.delay_proxy` adding 25 ms each way, a
50 ms round trip as to a real PrivX. The timeline covers the 365 days up to the end of the history,
through a fresh `UebaClient`: the first call (token, connection and every count), then the same again
with that client (whatever the coverage code caches is warm). The day counts must add up to the
range's own count. Targets (issue 9): first at most 5 s, warm at most 2 s. A call still running at
three times its target is not waited for: the line then says so.
"""

from __future__ import annotations

import tempfile
import threading
import time
from datetime import timedelta

import pandas as pd

from bench.delay_proxy import DelayProxy
from bench.harness import Verdict, detail
from ueba_api.client import UebaClient
from ueba_api.coverage import connections_per_day
from ueba_api.models import TimeRange
from ueba_server.launch import RunningServer, start_server

ONE_WAY_DELAY = 0.025
DAYS = 365
TARGETS = {"first": 5.0, "warm": 2.0}
PATIENCE = 3.0  # times the target


def timed(
    counter: UebaClient, start: pd.Timestamp, end: pd.Timestamp, limit: float
) -> tuple[float, pd.DataFrame | None]:
    """Seconds of one timeline, and the timeline; None if it took longer than `limit` seconds."""
    outcome: dict[str, object] = {}

    def timeline() -> None:
        try:
            outcome["frame"] = connections_per_day(counter, start, end)
        except Exception as error:  # raised below if in time; one given up on fails as its proxy goes
            outcome["error"] = error

    thread = threading.Thread(target=timeline, daemon=True)
    started = time.perf_counter()
    thread.start()
    thread.join(limit)
    if isinstance(error := outcome.get("error"), Exception):
        raise error
    frame = outcome.get("frame")
    return time.perf_counter() - started, frame if isinstance(frame, pd.DataFrame) else None


def history_end(server: RunningServer) -> pd.Timestamp:
    with server.client() as api:
        last = next(detail.v for detail in api.get_status().status_details if detail.k == "connections_last")
    return pd.Timestamp(last).ceil("D")


def run(quick: bool) -> Verdict:
    measured: dict[str, float] = {}
    late: list[str] = []
    with tempfile.TemporaryDirectory(prefix="ueba-bench-") as data_dir, start_server(data_dir) as server:
        end = history_end(server)
        start = end - timedelta(days=DAYS)
        port = int(server.base_url.rsplit(":", 1)[1])
        with DelayProxy("127.0.0.1", port, ONE_WAY_DELAY) as proxy:
            counter = UebaClient(
                f"http://127.0.0.1:{proxy.port}",
                client_id=server.client_id,
                client_secret=server.client_secret,
                oauth_client_id=server.oauth_client_id,
                oauth_client_secret=server.oauth_client_secret,
            )
            for label, target in TARGETS.items():
                seconds, frame = timed(counter, start, end, PATIENCE * target)
                measured[label] = seconds
                if frame is None:
                    late.append(label)
                    break
                total = counter.count_connections(TimeRange(start=start, end=end))
                if int(frame["count"].sum()) != total:
                    raise RuntimeError(
                        f"the days add up to {frame['count'].sum():,}, the range holds {total:,}"
                    )
                detail(f"{label}: {seconds:.2f} s for {len(frame)} buckets, {total:,} connections")
            counter.close()
    parts = [f"{label} {'> ' if label in late else ''}{seconds:.1f} s" for label, seconds in measured.items()]
    if late:
        detail(f"stopped waiting for the {late[0]} timeline after {PATIENCE:.0f}x its target")
        parts += [f"{label} not measured" for label in TARGETS if label not in measured]
    return Verdict(
        "coverage_timeline",
        ", ".join(parts) + f" ({DAYS} days, {2 * ONE_WAY_DELAY * 1e3:.0f} ms round trip)",
        ", ".join(f"{label} <= {target:.0f} s" for label, target in TARGETS.items()),
        not late and all(measured[label] <= target for label, target in TARGETS.items()),
    )
