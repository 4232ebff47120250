"""What every benchmark of `python -m bench` shares: its closing line, turns taken side by side, and the
reference server with a bearer-token HTTP client.

A benchmark compares two things measured in the same run, in alternating turns, so that both see the
same load from whatever else the machine does; the closing line gives the ratio against its target.
"""

from __future__ import annotations

import resource
import ssl
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from ueba_api.auth import TOKEN_PATH
from ueba_server.launch import RunningServer
from ueba_server.openapi import UEBA_PREFIX
from ueba_server.worker import STANDBY_NAME


@dataclass(frozen=True)
class Verdict:
    """The one closing line of a benchmark: `<name>: <measured> (target <target>) ok|short`."""

    name: str
    measured: str
    target: str
    ok: bool

    def __str__(self) -> str:
        return f"{self.name}: {self.measured} (target {self.target}) {'ok' if self.ok else 'short'}"


def detail(text: str) -> None:
    """A line of a benchmark's own table, before its verdict (indented, so verdicts stand out)."""
    print(f"    {text}", flush=True)


def take_turns(rounds: int, contenders: dict[str, Callable[[], object]]) -> dict[str, list[float]]:
    """Seconds of each call, the contenders called in turns `rounds` times (the order flips each round)."""
    durations: dict[str, list[float]] = {label: [] for label in contenders}
    order = list(contenders)
    for _ in range(rounds):
        for label in order:
            started = time.perf_counter()
            contenders[label]()
            durations[label].append(time.perf_counter() - started)
        order.reverse()
    return durations


def wait_for_standby(server: RunningServer, timeout: float = 120.0) -> float:
    """Seconds until the server has a worker standing by with the training code imported (named
    `ueba-standby`, docs/server.md). A server is timed once that worker's start (a CPU second or two of
    importing scikit-learn, in the background) is over: in its steady state, as a user's server that has
    been up for a moment."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        tasks = Path(f"/proc/{server.pid}/task")
        children = [child for task in tasks.iterdir() for child in (task / "children").read_text().split()]
        for child in children:
            try:
                if Path(f"/proc/{child}/comm").read_text().strip() == STANDBY_NAME:
                    return time.perf_counter() - started
            except FileNotFoundError:
                continue
        time.sleep(0.1)
    raise RuntimeError(f"no worker stood by within {timeout} s")


def median(values: list[float]) -> float:
    return statistics.median(values)


def percentile(values: list[float], share: float) -> float:
    """The `share` quantile (0.95 for p95), by the nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def bearer_token(server: RunningServer) -> str:
    response = httpx.post(
        f"{server.base_url}{TOKEN_PATH}",
        auth=(server.oauth_client_id, server.oauth_client_secret),
        data={"grant_type": "password", "username": server.client_id, "password": server.client_secret},
        verify=verify_for(server),
    )
    response.raise_for_status()
    return response.json()["access_token"]


def verify_for(server: RunningServer) -> ssl.SSLContext | bool:
    """What httpx verifies the server's certificate with: its own self-signed one, when it has TLS."""
    return ssl.create_default_context(cafile=server.ca_cert) if server.ca_cert else True


def api_http(server: RunningServer, base_url: str | None = None) -> httpx.Client:
    """A keep-alive httpx client on the API prefix with a bearer token; `base_url` e.g. through a proxy."""
    return httpx.Client(
        base_url=f"{base_url or server.base_url}{UEBA_PREFIX}",
        headers={"Authorization": f"Bearer {bearer_token(server)}"},
        verify=verify_for(server),
    )


def peak_rss_bytes(pid: int) -> int:
    """The highest resident set size the process has had (VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmHWM for process {pid}")


def own_peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
