"""GET /datasets with many trained runs: the histogram cache off and on, side by side.

    python -m bench.list_benchmark [--datasets 20] [--losses 12000] [--requests 40] [--bin-count 50]

Builds one store with `--datasets` datasets, each with a SUCCESS run of 15 epochs and `--losses`
validation losses (written through `DatasetStore`, as a training worker writes them), then serves it
with two `python -m ueba_server` at once: one with `--histogram-cache 0` (every listing re-bins every
run's losses, as before the cache), one with the default cache; they take the listings in turns. Prints
the first listing's time (the cache is empty then), the median of the following ones, over HTTP with a
bearer token, and the speed-up against the slower.
"""

from __future__ import annotations

import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

from bench import benchmark_parser
from ueba_server.config import (
    DEMO_OAUTH_CLIENT_ID,
    DEMO_OAUTH_CLIENT_SECRET,
    HISTOGRAM_CACHE_SIZE,
    ServerConfig,
)
from ueba_server.database import Database
from ueba_server.dataset_store import DatasetStore
from ueba_server.launch import PROJECT_ROOT, _free_port
from ueba_server.openapi import UEBA_PREFIX
from ueba_server.schemas import DatasetRequest

EPOCHS = 15
CLIENT_ID = "bench"
STARTUP_TIMEOUT = 60.0


def build_store(data_dir: Path, datasets: int, losses: int) -> None:
    database = Database(ServerConfig(data_dir=data_dir).database_path)
    database.initialise()
    store = DatasetStore(database, data_dir / "models")
    rng = np.random.default_rng(1)
    for number in range(datasets):
        request = DatasetRequest.model_validate({"time_range_settings": {}, "comment": f"run {number}"})
        dataset_id = store.create(request, CLIENT_ID)
        result_id = store.start_training(dataset_id, "ueba-default-v1", losses * 5, set_active=False)
        for epoch in range(1, EPOCHS + 1):
            loss = 1.0 / epoch
            store.record_epoch(result_id, loss, 1.1 * loss, f"epoch {epoch}/{EPOCHS}: loss {loss:.6f}")
        store.finish_success(result_id, rng.gamma(2.0, 0.01, losses), "finished")


def serve(
    data_dir: Path, options: list[str], secret: str, project_root: Path = PROJECT_ROOT
) -> tuple[subprocess.Popen[bytes], str]:
    """`python -m ueba_server` of `project_root` on the store, with this benchmark's API client."""
    port = _free_port("127.0.0.1")
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


def compare(data_dir: Path, servers: dict[str, list[str]], requests: int, bin_count: int) -> list[str]:
    """Lines of a table: per server (label: options), the first listing and the median of the next ones.

    The servers run at the same time and take the requests in turns, so that they share whatever else
    the machine is doing.
    """
    secret = secrets.token_urlsafe(16)
    running = {label: serve(data_dir, options, secret) for label, options in servers.items()}
    try:
        clients = {label: api_client(base_url, secret) for label, (_, base_url) in running.items()}
        durations: dict[str, list[float]] = {label: [] for label in servers}
        sizes = {}
        for _ in range(requests + 1):
            for label, client in clients.items():
                started = time.perf_counter()
                response = client.get("/datasets", params={"bin_count": bin_count})
                durations[label].append(time.perf_counter() - started)
                response.raise_for_status()
                sizes[label] = len(response.content)
    finally:
        for process, _ in running.values():
            process.terminate()
            process.wait(30)
    lines = []
    slowest = max(statistics.median(times[1:]) for times in durations.values())
    for label, times in durations.items():
        median = statistics.median(times[1:])
        lines.append(f"{label:>24} {times[0] * 1e3:>9.1f} {median * 1e3:>10.1f} {sizes[label] / 1024:>6.0f}"
                     f" {slowest / median:>8.1f}")  # fmt: skip
    return lines


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


def main() -> None:
    parser = benchmark_parser(__doc__)
    parser.add_argument("--datasets", type=int, default=20)
    parser.add_argument("--losses", type=int, default=12_000)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--bin-count", type=int, default=50)
    options = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="ueba-bench-") as data_dir:
        build_store(Path(data_dir), options.datasets, options.losses)
        print(f"{options.datasets} datasets x {options.losses:,} validation losses,"
              f" bin_count {options.bin_count}, {options.requests} listings each")  # fmt: skip
        print(f"{'server':>24} {'first ms':>9} {'median ms':>10} {'KB':>6} {'speed-up':>8}")
        servers = {
            "histogram cache off": ["--histogram-cache", "0"],
            f"cache {HISTOGRAM_CACHE_SIZE} (default)": [],
        }
        for line in compare(Path(data_dir), servers, options.requests, options.bin_count):
            print(line)
        print("\nThe store's part of it (DatasetStore.list in this process, no HTTP):")
        for line in compare_stores(Path(data_dir), options.requests, options.bin_count):
            print(line)


if __name__ == "__main__":
    main()
