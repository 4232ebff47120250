"""The pieces benchmarks rely on: the verdict line, turns, the delay proxy's latency and the SDK's way."""

from __future__ import annotations

import socket
import socketserver
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.client_vs_per_request import sdk_way
from bench.delay_proxy import DelayProxy
from bench.harness import Verdict, bearer_token, percentile, take_turns
from ueba_api.models import Dataset, TimeRange
from ueba_server.launch import start_server
from ueba_server.openapi import UEBA_PREFIX
from ueba_server.tls import self_signed_certificate


def test_the_verdict_line_has_the_documented_shape() -> None:
    assert str(Verdict("count_latency", "p95 3.1 ms", "p95 <= 50 ms", True)) == (
        "count_latency: p95 3.1 ms (target p95 <= 50 ms) ok"
    )
    assert str(Verdict("page_scaling", "9.0x", "<= 2x", False)).endswith(" short")


def test_turns_alternate_and_flip_the_order_each_round() -> None:
    calls: list[str] = []
    durations = take_turns(3, {"a": lambda: calls.append("a"), "b": lambda: calls.append("b")})
    assert calls == ["a", "b", "b", "a", "a", "b"]
    assert [len(values) for values in durations.values()] == [3, 3]


def test_percentile_by_nearest_rank() -> None:
    values = [float(number) for number in range(1, 101)]
    assert percentile(values, 0.95) == 95.0
    assert percentile([7.0], 0.95) == 7.0


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(65536):
            self.request.sendall(data)


@pytest.fixture
def echo_port() -> Iterator[int]:
    """A TCP echo server on loopback, in a thread of its own."""
    with socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Echo) as server:
        server.daemon_threads = True
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        yield server.server_address[1]
        server.shutdown()


def round_trip(port: int, payload: bytes) -> tuple[float, bytes]:
    """Seconds from connecting to the last byte echoed back, and the bytes."""
    started = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(payload)
        received = b""
        while len(received) < len(payload):
            received += connection.recv(65536)
        return time.perf_counter() - started, received


def test_the_proxy_delays_each_direction_and_keeps_the_bytes_in_order(echo_port: int) -> None:
    payload = bytes(range(256)) * 4096  # 1 MiB: many chunks, which must arrive in order
    with DelayProxy("127.0.0.1", echo_port, delay=0.05) as proxy:
        seconds, received = round_trip(proxy.port, payload)
        assert received == payload
        # A new connection: the handshake's round trip, then the data's (2 x 2 x 50 ms).
        assert seconds >= 0.2
        again, _ = round_trip(proxy.port, b"ping")
        assert again >= 0.2
    # The delay is the proxy's, not the echo server's. The direct trip's best of five: on a loaded machine
    # one trip can wait a scheduler slice, which says nothing of the echo server.
    direct = min(round_trip(echo_port, b"ping")[0] for _ in range(5))
    assert direct < again - 0.1


def test_the_sdks_way_fetches_the_dataset_over_a_new_tls_connection_each_time(tmp_path: Path) -> None:
    with start_server(tmp_path, tls=True, connections=2_000) as server, server.client() as api:
        dataset_id = api.create_dataset(Dataset(time_range_settings=TimeRange(), comment="sdk"))
        token = bearer_token(server)
        url = f"{server.base_url}{UEBA_PREFIX}/datasets/{dataset_id}"
        get = sdk_way(url, token, Path(server.ca_cert or "").read_text())
        assert get() == get() == api.get_dataset(dataset_id)
        with pytest.raises(RuntimeError, match="answered 401"):
            sdk_way(url, "not-a-token", Path(server.ca_cert or "").read_text())()
        other_dir = tmp_path / "other"
        other_dir.mkdir()
        other_ca, _ = self_signed_certificate(other_dir)
        with pytest.raises(ssl.SSLCertVerificationError):  # it verifies the server against the CA it is given
            sdk_way(url, token, other_ca.read_text())()
