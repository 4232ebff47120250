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

The table also times the official SDK's own way (privx-sdk-for-python `base.py`): a new TLS context from
the CA certificate and a new `http.client` connection for every request. It costs what the per-request
httpx client does, within the machine's noise; the verdict stays on the latter.
"""

from __future__ import annotations

import http.client
import ssl
import tempfile
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

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


def sdk_way(url: str, token: str, ca_pem: str) -> Callable[[], Dataset]:
    """A `GET` of `url` as the official SDK sends one: a new TLS context and `http.client` connection."""
    parts = urlsplit(url)
    headers = {"Content-type": "application/json", "Authorization": f"Bearer {token}"}

    def get() -> Dataset:
        context = ssl.create_default_context(cadata=ca_pem)
        connection = http.client.HTTPSConnection(parts.hostname or "", parts.port, context=context)
        try:
            connection.request("GET", parts.path, headers=headers)
            answer = connection.getresponse()
            body = answer.read()
        finally:
            connection.close()
        if answer.status != 200:
            raise RuntimeError(f"GET {url} answered {answer.status}")
        return Dataset.model_validate_json(body)

    return get


def seconds_per_request(
    server: RunningServer, base_url: str, dataset_id: str, rounds: int, block: int
) -> dict[str, float]:
    """Seconds a request through `base_url`: ours, the per-request client's and the SDK's way."""
    token = bearer_token(server)
    path = f"{base_url}{UEBA_PREFIX}/datasets/{dataset_id}"
    per_request_headers = {"Authorization": f"Bearer {token}", "Connection": "close"}
    ours = UebaClient(base_url, token=token, ca_cert=server.ca_cert)
    sdk_get = sdk_way(path, token, Path(server.ca_cert or "").read_text())
    with ours, httpx.Client(verify=verify_for(server)) as per_request:
        ours.get_dataset(dataset_id)  # the keep-alive connection is what ours is: open before timing

        def per_request_get() -> Dataset:
            return Dataset.model_validate_json(
                per_request.get(path, headers=per_request_headers).raise_for_status().content
            )

        durations = take_turns(rounds, {
            "ours": lambda: [ours.get_dataset(dataset_id) for _ in range(block)],
            "per request": lambda: [per_request_get() for _ in range(block)],
            "SDK's way": lambda: [sdk_get() for _ in range(block)],
        })  # fmt: skip
    return {label: sum(seconds) / (rounds * block) for label, seconds in durations.items()}


def report(label: str, seconds: dict[str, float], rounds: int, block: int) -> float:
    """Prints the line of one server and route; the ratio of the verdict (per request / ours)."""
    mine, theirs, sdk = seconds["ours"], seconds["per request"], seconds["SDK's way"]
    detail(f"{label:>12}: ours {mine * 1e3:.1f} ms, per request {theirs * 1e3:.1f} ms a request,"
           f" {theirs / mine:.2f}x; the SDK's way {sdk * 1e3:.1f} ms, {sdk / mine:.2f}x"
           f" ({rounds} x {block} requests each, in turns)")
    return theirs / mine


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
                    seconds = seconds_per_request(server, url, dataset.id, rounds, blocks[label])
                    ratios[label] = report(label, seconds, rounds, blocks[label])
            body = Path(data_dir) / "dataset.json"
            with api_http(server) as raw:  # the very bytes our server answers
                body.write_bytes(raw.get(f"/datasets/{dataset.id}").raise_for_status().content)
            process, bare_url = bare_app(body, Path(data_dir))
            try:
                block = blocks["loopback"]
                seconds = seconds_per_request(server, bare_url, dataset.id, rounds, block)
                ceiling = report("bare app", seconds, rounds, block)
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
