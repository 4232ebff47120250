"""Our client (`UebaClient`, one keep-alive connection) against a client that opens a connection for
every request, as the official SDK does; HTTPS on loopback, and through a proxy adding 10 ms each way.

Both fetch and parse `GET /datasets/{id}` (one finished run of 15 epochs, 12,000 validation losses) with
the same bearer token. The per-request client sends `Connection: close`, so each request pays the TCP
connect and the TLS handshake. Blocks of requests, the clients in turns. Targets: ours at least 3x as
fast on loopback and 2.5x through the proxy.

On loopback the ratio is 1 + (connect and handshake) / (one keep-alive request), so the server's own time
per request bounds it. The table also shows the same two clients against the bare Starlette app of
`server_vs_bare` (the same bytes, the same certificate): the ceiling any server on this machine's Python
stack could give. It is printed for the reader; the verdict is our server's.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import httpx

from bench.delay_proxy import DelayProxy
from bench.harness import Verdict, api_http, bearer_token, detail, take_turns, verify_for, wait_for_standby
from bench.history import write_history
from bench.server_vs_bare import bare_app
from ueba_api.client import UebaClient
from ueba_api.models import Dataset
from ueba_server.launch import RunningServer, start_server
from ueba_server.openapi import UEBA_PREFIX

PROXY_DELAY = 0.010
TARGETS = {"loopback": 3.0, "10 ms proxy": 2.5}
ROUNDS, QUICK_ROUNDS = 6, 3
BLOCKS = {"loopback": 100, "10 ms proxy": 30}
QUICK_BLOCKS = {"loopback": 40, "10 ms proxy": 10}


def speed_up(
    server: RunningServer, base_url: str, dataset_id: str, rounds: int, block: int
) -> tuple[float, float, float]:
    """(ours s, per-request s, per-request / ours), seconds per request through `base_url`."""
    token = bearer_token(server)
    path = f"{base_url}{UEBA_PREFIX}/datasets/{dataset_id}"
    per_request_headers = {"Authorization": f"Bearer {token}", "Connection": "close"}
    ours = UebaClient(base_url, token=token, ca_cert=server.ca_cert)
    with ours, httpx.Client(verify=verify_for(server)) as per_request:
        ours.get_dataset(dataset_id)  # the keep-alive connection is what ours is: open before timing

        def per_request_get() -> Dataset:
            return Dataset.model_validate_json(
                per_request.get(path, headers=per_request_headers).raise_for_status().content
            )

        durations = take_turns(rounds, {
            "ours": lambda: [ours.get_dataset(dataset_id) for _ in range(block)],
            "per request": lambda: [per_request_get() for _ in range(block)],
        })  # fmt: skip
    mine, theirs = sum(durations["ours"]) / (rounds * block), sum(durations["per request"]) / (rounds * block)
    return mine, theirs, theirs / mine


def report(label: str, mine: float, theirs: float, rounds: int, block: int) -> None:
    detail(f"{label:>12}: ours {mine * 1e3:.1f} ms, per request {theirs * 1e3:.1f} ms a request,"
           f" {theirs / mine:.2f}x ({rounds} x {block} requests each, in turns)")


def run(quick: bool) -> Verdict:
    rounds, blocks = (QUICK_ROUNDS, QUICK_BLOCKS) if quick else (ROUNDS, BLOCKS)
    ratios = {}
    with tempfile.TemporaryDirectory(prefix="ueba-bench-") as data_dir:
        write_history(Path(data_dir), datasets=1, runs=1, epochs=15, losses=12_000)
        with start_server(data_dir, tls=True, connections=20_000) as server:
            wait_for_standby(server)
            with server.client() as api:
                (dataset,) = api.list_datasets().items
            port = int(server.base_url.rsplit(":", 1)[1])
            with DelayProxy("127.0.0.1", port, PROXY_DELAY) as proxy:
                urls = {"loopback": server.base_url, "10 ms proxy": f"https://127.0.0.1:{proxy.port}"}
                for label, url in urls.items():
                    mine, theirs, ratios[label] = speed_up(server, url, dataset.id, rounds, blocks[label])
                    report(label, mine, theirs, rounds, blocks[label])
            body = Path(data_dir) / "dataset.json"
            with api_http(server) as raw:  # the very bytes our server answers
                body.write_bytes(raw.get(f"/datasets/{dataset.id}").raise_for_status().content)
            process, bare_url = bare_app(body, Path(data_dir))
            try:
                block = blocks["loopback"]
                mine, theirs, ceiling = speed_up(server, bare_url, dataset.id, rounds, block)
                report("bare app", mine, theirs, rounds, block)
            finally:
                process.terminate()
                process.wait(10)
    detail(f"Loopback ceiling (the bare app): {ceiling:.2f}x; our server: {ratios['loopback']:.2f}x.")
    return Verdict(
        "client_vs_per_request",
        ", ".join(f"{label} {ratio:.2f}x" for label, ratio in ratios.items()),
        ", ".join(f"{label} >= {target}x" for label, target in TARGETS.items()),
        all(ratios[label] >= target for label, target in TARGETS.items()),
    )
