"""`GET /datasets/{id}` on our server against a bare Starlette app returning the same bytes.

Both behind uvicorn on loopback, run alike (log level info: an access-log line a request, to a file),
each with one keep-alive httpx client, over HTTP and over TLS (the server's self-signed certificate for
both). The dataset has one finished run of 15 epochs with 12,000 validation losses. Requests go in
blocks, the servers in turns, once the server's standby worker has started. Target: our rate at least
half the bare app's, on HTTP and on TLS. The table also gives the bare app without an access log, and
our share of it.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.harness import Verdict, api_http, detail, take_turns, verify_for, wait_for_standby
from bench.history import write_history
from ueba_server.launch import PROJECT_ROOT, RunningServer, free_port, start_server
from ueba_server.tls import CERT_FILE, KEY_FILE

MIN_SHARE = 0.5
ROUNDS, QUICK_ROUNDS = 10, 4
BLOCK, QUICK_BLOCK = 100, 50
STARTUP_TIMEOUT = 30.0
BARE_LOG = "bare.log"
NO_ACCESS_LOG = "bare, no access log"


def bare_app(
    body: Path, tls_dir: Path | None, *, access_log: bool = True
) -> tuple[subprocess.Popen[bytes], str]:
    """The bare app under uvicorn (TLS with the certificate in `tls_dir`); its process and base URL.

    uvicorn runs as the reference server runs it (`ueba_server.cli`): log level info, so one access-log
    line a request, written to a file beside `body` as ours go to `server.log`. Without `access_log`, as
    the floor of a server that logs no requests.
    """
    port = free_port("127.0.0.1")
    command = [sys.executable, "-m", "uvicorn", "bench.bare_app:app", "--port", str(port),
               "--log-level", "info"]  # fmt: skip
    if not access_log:
        command.append("--no-access-log")
    if tls_dir:
        command += ["--ssl-certfile", str(tls_dir / CERT_FILE), "--ssl-keyfile", str(tls_dir / KEY_FILE)]
    environment = os.environ | {"UEBA_BENCH_BODY": str(body)}
    with (body.parent / BARE_LOG).open("ab") as log:
        process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=environment, stdout=log, stderr=log)
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
) -> dict[str, float]:
    """Requests a second of our server (`ours`), the bare app run as ours is (`bare`) and the bare app
    without an access log (`bare, no access log`), measured in turns."""
    path = f"/datasets/{dataset_id}"
    with api_http(server) as ours, contextlib.ExitStack() as stack:
        body.write_bytes(ours.get(path).raise_for_status().content)
        clients = {"ours": ours}
        for label, access_log in (("bare", True), (NO_ACCESS_LOG, False)):
            tls_dir = server.data_dir if server.ca_cert else None
            process, bare_url = bare_app(body, tls_dir, access_log=access_log)
            stack.callback(process.wait, 10)
            stack.callback(process.terminate)
            client = stack.enter_context(
                httpx.Client(base_url=bare_url, headers=ours.headers, verify=verify_for(server))
            )
            assert client.get(path).content == body.read_bytes()
            clients[label] = client
        durations = take_turns(rounds, {
            label: lambda client=client: [client.get(path).raise_for_status() for _ in range(block)]
            for label, client in clients.items()
        })  # fmt: skip
    return {label: block * rounds / sum(seconds) for label, seconds in durations.items()}


def run(quick: bool) -> Verdict:
    rounds, block = (QUICK_ROUNDS, QUICK_BLOCK) if quick else (ROUNDS, BLOCK)
    shares = {}
    with tempfile.TemporaryDirectory(prefix="ueba-bench-") as data_dir:
        write_history(Path(data_dir), datasets=1, runs=1, epochs=15, losses=12_000)
        for tls in (False, True):
            with start_server(data_dir, tls=tls, connections=20_000) as server:
                wait_for_standby(server)
                with server.client() as api:
                    (dataset,) = api.list_datasets().items
                rates = requests_per_second(server, dataset.id, Path(data_dir) / "body.json", rounds, block)
            label = "TLS" if tls else "HTTP"
            ours, bare, quiet = rates["ours"], rates["bare"], rates[NO_ACCESS_LOG]
            shares[label] = ours / bare
            size = (Path(data_dir) / "body.json").stat().st_size
            detail(
                f"{label:>4}: ours {ours:,.0f} req/s, bare Starlette {bare:,.0f} req/s,"
                f" share {ours / bare:.2f}"
                f" (without an access log the bare app answers {quiet:,.0f} req/s, share {ours / quiet:.2f};"
                f" {rounds} x {block} requests each, in turns; {size:,} bytes an answer)"
            )
    return Verdict(
        "server_vs_bare",
        ", ".join(f"{label} {share:.2f}x" for label, share in shares.items()) + " the bare app's rate",
        f">= {MIN_SHARE}x on HTTP and TLS",
        min(shares.values()) >= MIN_SHARE,
    )
