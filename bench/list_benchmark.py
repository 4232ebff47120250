"""GET /datasets with many trained runs: what the stored default histograms and the histogram cache save.

    python -m bench.list_benchmark [--datasets 20] [--losses 12000] [--requests 40] [--bin-count 100]

Builds one store with `--datasets` datasets, each with a SUCCESS run of 15 epochs and `--losses`
validation losses (written by `bench.history`, through `DatasetStore` as a worker writes them), then
serves it with two `python -m ueba_server` at once: one with `--histogram-cache 0`, one with the default
cache. They take the listings in turns, over HTTP with a bearer token:

- at `--bin-count` (not the default), where every histogram is re-binned from the run's losses unless
  the cache holds it: the cache against none;
- at the default bin count, where each run's histogram is stored with the run, against one bin more
  on the server without a cache, which re-bins every run as a listing did before histograms were kept.

Prints the first listing's time (the cache is empty then), the median of the following ones, and the
speed-ups. In `python -m bench` (`list`) its line is both speed-ups: at least 1.5x each, what
bench/RESULTS.md reported when the cache came (1.5 to 1.8).
"""

from __future__ import annotations

import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from bench import benchmark_parser
from bench.harness import Verdict, detail
from bench.history import write_history
from ueba_api.limits import DEFAULT_HISTOGRAM_BINS
from ueba_server.config import (
    DEMO_OAUTH_CLIENT_ID,
    DEMO_OAUTH_CLIENT_SECRET,
    HISTOGRAM_CACHE_SIZE,
    ServerConfig,
)
from ueba_server.database import Database
from ueba_server.dataset_store import DatasetStore
from ueba_server.launch import PROJECT_ROOT, free_port
from ueba_server.openapi import UEBA_PREFIX

EPOCHS = 15
CLIENT_ID = "bench"
STARTUP_TIMEOUT = 60.0
MIN_SPEED_UP = 1.5
REQUESTS, QUICK_REQUESTS = 100, 20


def serve(
    data_dir: Path, options: list[str], secret: str, project_root: Path = PROJECT_ROOT
) -> tuple[subprocess.Popen[bytes], str]:
    """`python -m ueba_server` of `project_root` on the store, with this benchmark's API client."""
    port = free_port("127.0.0.1")
    command = [sys.executable, "-m", "ueba_server", "--port", str(port), "--data-dir", str(data_dir),
               "--connections", "5000", "--log-level", "warning", *options]  # fmt: skip
    # Only this client's credentials: the OAuth client stays the well-known demo one.
    environment = {name: value for name, value in os.environ.items() if not name.startswith("PRIVX_API_")}
    environment |= {"PRIVX_API_CLIENT_ID": CLIENT_ID, "PRIVX_API_CLIENT_SECRET": secret}
    process = subprocess.Popen(command, env=environment, cwd=project_root, stdout=subprocess.DEVNULL)
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base_url}{UEBA_PREFIX}/status").status_code == 200:
                return process, base_url
        except httpx.TransportError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"the server did not answer within {STARTUP_TIMEOUT:.0f} s")


def api_client(base_url: str, secret: str) -> httpx.Client:
    token = httpx.post(
        f"{base_url}/auth/api/v1/oauth/token",
        auth=(DEMO_OAUTH_CLIENT_ID, DEMO_OAUTH_CLIENT_SECRET),
        data={"grant_type": "password", "username": CLIENT_ID, "password": secret},
    ).json()["access_token"]
    return httpx.Client(base_url=f"{base_url}{UEBA_PREFIX}", headers={"Authorization": f"Bearer {token}"})


def compare(
    data_dir: Path, servers: dict[str, list[str]], probes: dict[str, tuple[str, int]], requests: int
) -> tuple[list[str], dict[str, float]]:
    """Lines of a table and each probe's median listing time: per probe (label: server label, bin
    count), the first listing and the median of the next ones.

    The servers run at the same time and the probes take the requests in turns, so that they share
    whatever else the machine is doing.
    """
    secret = secrets.token_urlsafe(16)
    running = {label: serve(data_dir, options, secret) for label, options in servers.items()}
    try:
        clients = {label: api_client(base_url, secret) for label, (_, base_url) in running.items()}
        durations: dict[str, list[float]] = {label: [] for label in probes}
        sizes = {}
        for _ in range(requests + 1):
            for label, (server, bin_count) in probes.items():
                started = time.perf_counter()
                response = clients[server].get("/datasets", params={"bin_count": bin_count})
                durations[label].append(time.perf_counter() - started)
                response.raise_for_status()
                sizes[label] = len(response.content)
    finally:
        for process, _ in running.values():
            process.terminate()
            process.wait(30)
    medians = {label: statistics.median(times[1:]) for label, times in durations.items()}
    lines = [
        f"{label:>40} {times[0] * 1e3:>9.1f} {medians[label] * 1e3:>10.1f} {sizes[label] / 1024:>6.0f}"
        for label, times in durations.items()
    ]
    return lines, medians


def compare_stores(data_dir: Path, requests: int, bin_count: int) -> list[str]:
    database = Database(ServerConfig(data_dir=data_dir).database_path)
    stores = {size: DatasetStore(database, data_dir / "models", histogram_cache_size=size)
              for size in (0, HISTOGRAM_CACHE_SIZE)}  # fmt: skip
    durations: dict[int, list[float]] = {size: [] for size in stores}
    for _ in range(requests + 1):
        for size, store in stores.items():
            started = time.perf_counter()
            store.list(bin_count=bin_count)
            durations[size].append(time.perf_counter() - started)
    medians = {size: statistics.median(times[1:]) for size, times in durations.items()}
    header = f"{'store':>24} {'first ms':>9} {'median ms':>10} {'speed-up':>15}"
    return [header] + [
        f"{'histogram cache off' if size == 0 else f'cache {size}':>24} {durations[size][0] * 1e3:>9.1f}"
        f" {medians[size] * 1e3:>10.2f} {max(medians.values()) / medians[size]:>15.1f}"
        for size in stores
    ]


CACHE_OFF, CACHE_ON = "histogram cache off", f"cache {HISTOGRAM_CACHE_SIZE} (default)"
SERVERS = {CACHE_OFF: ["--histogram-cache", "0"], CACHE_ON: []}
NON_DEFAULT_BINS = 100


def measure(
    datasets: int, losses: int, requests: int, bin_count: int, emit: Callable[[str], None] = print
) -> tuple[float, float]:
    """Prints the tables; returns the cache's speed-up and the stored histograms' speed-up, over HTTP."""
    if bin_count == DEFAULT_HISTOGRAM_BINS:
        raise ValueError(f"--bin-count must not be the default {DEFAULT_HISTOGRAM_BINS}: it is stored")
    rebinned = DEFAULT_HISTOGRAM_BINS + 1
    probes = {
        f"{CACHE_OFF}, {bin_count} bins": (CACHE_OFF, bin_count),
        f"{CACHE_ON}, {bin_count} bins": (CACHE_ON, bin_count),
        f"{CACHE_OFF}, {rebinned} bins (re-binned)": (CACHE_OFF, rebinned),
        f"{CACHE_OFF}, {DEFAULT_HISTOGRAM_BINS} bins (stored)": (CACHE_OFF, DEFAULT_HISTOGRAM_BINS),
    }
    with tempfile.TemporaryDirectory(prefix="ueba-bench-") as data_dir:
        write_history(Path(data_dir), datasets, runs=1, epochs=EPOCHS, losses=losses)
        emit(f"{datasets} datasets x {losses:,} validation losses, {requests} listings each")
        emit(f"{'server, bin_count':>40} {'first ms':>9} {'median ms':>10} {'KB':>6}")
        lines, medians = compare(Path(data_dir), SERVERS, probes, requests)
        for line in lines:
            emit(line)
        emit("The store's part of it (DatasetStore.list in this process, no HTTP):")
        for line in compare_stores(Path(data_dir), requests, bin_count):
            emit(line)
    off, on, rebinning, stored = medians.values()
    return off / on, rebinning / stored


def run(quick: bool) -> Verdict:
    cache, stored = measure(20, 12_000, QUICK_REQUESTS if quick else REQUESTS, NON_DEFAULT_BINS, detail)
    return Verdict(
        "list",
        f"histogram cache {cache:.2f}x faster than none at {NON_DEFAULT_BINS} bins, stored default"
        f" histograms {stored:.2f}x faster than re-binning (GET /datasets, 20 datasets, over HTTP)",
        f">= {MIN_SPEED_UP}x each",
        min(cache, stored) >= MIN_SPEED_UP,
    )


def main() -> None:
    parser = benchmark_parser(__doc__)
    parser.add_argument("--datasets", type=int, default=20)
    parser.add_argument("--losses", type=int, default=12_000)
    parser.add_argument("--requests", type=int, default=REQUESTS)
    parser.add_argument("--bin-count", type=int, default=NON_DEFAULT_BINS)
    options = parser.parse_args()
    measure(options.datasets, options.losses, options.requests, options.bin_count)


if __name__ == "__main__":
    main()
