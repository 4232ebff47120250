"""`GET /datasets/{id}` on our server against a bare Starlette app returning the same bytes.

Both behind uvicorn on loopback, each with one keep-alive httpx client, over HTTP and over TLS (the
server's self-signed certificate for both). The dataset has one finished run of 15 epochs with 12,000
validation losses. Requests go in blocks, the two servers in turns. Target: our rate at least half the
bare app's, on HTTP and on TLS.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.harness import Verdict, api_http, detail, take_turns, verify_for
from bench.history import write_history
from ueba_server.launch import PROJECT_ROOT, RunningServer, free_port, start_server
from ueba_server.tls import CERT_FILE, KEY_FILE

MIN_SHARE = 0.5
ROUNDS, QUICK_ROUNDS = 10, 4
BLOCK, QUICK_BLOCK = 100, 50
STARTUP_TIMEOUT = 30.0


def bare_app(body: Path, tls_dir: Path | None) -> tuple[subprocess.Popen[bytes], str]:
    """The bare app under uvicorn (TLS with the certificate in `tls_dir`); its process and base URL."""
    port = free_port("127.0.0.1")
    command = [sys.executable, "-m", "uvicorn", "bench.bare_app:app", "--port", str(port),
               "--log-level", "warning"]  # fmt: skip
    if tls_dir:
        command += ["--ssl-certfile", str(tls_dir / CERT_FILE), "--ssl-keyfile", str(tls_dir / KEY_FILE)]
    environment = os.environ | {"UEBA_BENCH_BODY": str(body)}
    process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=environment)
    base_url = f"{'https' if tls_dir else 'http'}://127.0.0.1:{port}"
    verify = str(tls_dir / CERT_FILE) if tls_dir else True
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        try:
            httpx.get(base_url, verify=verify)
            return process, base_url
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("the bare app did not answer")


def requests_per_second(
    server: RunningServer, dataset_id: str, body: Path, rounds: int, block: int
) -> tuple[float, float]:
    """(our rate, the bare app's rate) for `server`, measured in turns."""
    path = f"/datasets/{dataset_id}"
    with api_http(server) as ours:
        body.write_bytes(ours.get(path).raise_for_status().content)
        process, bare_url = bare_app(body, server.data_dir if server.ca_cert else None)
        try:
            with httpx.Client(base_url=bare_url, headers=ours.headers, verify=verify_for(server)) as bare:
                assert bare.get(path).content == body.read_bytes()
                clients = {"ours": ours, "bare": bare}
                durations = take_turns(rounds, {
                    label: lambda client=client: [client.get(path).raise_for_status() for _ in range(block)]
                    for label, client in clients.items()
                })  # fmt: skip
        finally:
            process.terminate()
            process.wait(10)
    return block * rounds / sum(durations["ours"]), block * rounds / sum(durations["bare"])


def run(quick: bool) -> Verdict:
    rounds, block = (QUICK_ROUNDS, QUICK_BLOCK) if quick else (ROUNDS, BLOCK)
    shares = {}
    with tempfile.TemporaryDirectory(prefix="ueba-bench-") as data_dir:
        write_history(Path(data_dir), datasets=1, runs=1, epochs=15, losses=12_000)
        for tls in (False, True):
            with start_server(data_dir, tls=tls, connections=20_000) as server:
                with server.client() as api:
                    (dataset,) = api.list_datasets().items
                ours, bare = requests_per_second(
                    server, dataset.id, Path(data_dir) / "body.json", rounds, block
                )
            label = "TLS" if tls else "HTTP"
            shares[label] = ours / bare
            size = (Path(data_dir) / "body.json").stat().st_size
            detail(
                f"{label:>4}: ours {ours:,.0f} req/s, bare Starlette {bare:,.0f} req/s,"
                f" share {ours / bare:.2f}"
                f" ({rounds} x {block} requests each, in turns; {size:,} bytes an answer)"
            )
    return Verdict(
        "server_vs_bare",
        ", ".join(f"{label} {share:.2f}x" for label, share in shares.items()) + " the bare app's rate",
        f">= {MIN_SHARE}x on HTTP and TLS",
        min(shares.values()) >= MIN_SHARE,
    )
