"""A call's overall deadline, against real sockets on loopback: a server that trickles its answer a byte at
a time never trips httpx's per-read timeouts, yet the call ends when its deadline passes."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from ueba_api import ApiTimeoutError, UebaClient
from ueba_api.client import API_PREFIX

ANSWER = b'{"status": "RUNNING", "version": "40.0.0"}'
HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(ANSWER)
# Slack for a busy machine: the call must end within this of its deadline.
SLACK_SECONDS = 1.0


class TricklingServer:
    """Answers each request with `HEAD + ANSWER`, one byte every `interval` seconds from byte `prompt` on
    (the bytes before it at once); counts the requests it read."""

    def __init__(self, interval: float, prompt: int = 0) -> None:
        self.interval, self.prompt = interval, prompt
        self.requests = 0
        self._socket = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._socket.getsockname()[1]}"
        self._stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._socket.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(connection,), daemon=True).start()

    def _answer(self, connection: socket.socket) -> None:
        with connection:
            try:
                connection.recv(65536)
                self.requests += 1
                answer = HEAD + ANSWER
                connection.sendall(answer[: self.prompt])
                for index in range(self.prompt, len(answer)):
                    if self._stop.wait(self.interval):
                        return
                    connection.sendall(answer[index : index + 1])
            except OSError:
                return  # the client gave up and closed

    def close(self) -> None:
        self._stop.set()
        self._socket.close()


Trickling = Callable[..., TricklingServer]


@pytest.fixture
def trickling() -> Iterator[Trickling]:
    servers: list[TricklingServer] = []

    def make(interval: float, prompt: int = 0) -> TricklingServer:
        servers.append(TricklingServer(interval, prompt))
        return servers[-1]

    yield make
    for server in servers:
        server.close()


@pytest.mark.parametrize("prompt", [0, len(HEAD)], ids=["headers trickled", "body trickled"])
def test_a_trickled_answer_ends_at_the_deadline(trickling: Trickling, prompt: int) -> None:
    # Each byte comes well within the 1 s read timeout; the whole answer would take over 20 s.
    server = trickling(interval=0.2, prompt=prompt)
    client = UebaClient(server.url, token="t", timeout=1.0, deadline=2.0)

    started = time.monotonic()
    with pytest.raises(ApiTimeoutError) as caught:
        client.get_status()
    elapsed = time.monotonic() - started

    assert str(caught.value) == (
        f"GET {server.url}{API_PREFIX}/status got no complete answer within its deadline of 2 s"
    )
    assert 2.0 <= elapsed < 2.0 + SLACK_SECONDS, f"{elapsed:.2f} s"
    assert server.requests == 1, "the deadline is the whole call's: no retry after it"


def test_the_default_deadline_is_twice_the_timeout(trickling: Trickling) -> None:
    server = trickling(interval=0.1)
    client = UebaClient(server.url, token="t", timeout=0.75)

    started = time.monotonic()
    with pytest.raises(ApiTimeoutError):
        client.get_status()
    elapsed = time.monotonic() - started

    assert 1.5 <= elapsed < 1.5 + SLACK_SECONDS, f"{elapsed:.2f} s"


def test_a_write_cut_off_by_the_deadline_says_it_may_have_acted(trickling: Trickling) -> None:
    server = trickling(interval=0.2)
    client = UebaClient(server.url, token="t", timeout=1.0, deadline=1.0)

    with pytest.raises(ApiTimeoutError) as caught:
        client.train_dataset("d-1")

    assert str(caught.value).endswith("deadline of 1 s; the server may have received it, so the training may "
                                      "have started: check the dataset's training status before trying again")
    assert server.requests == 1


def test_an_answer_slower_than_the_timeout_but_within_the_deadline_arrives(
    trickling: Trickling,
) -> None:
    server = trickling(interval=0.005)  # ~140 bytes in ~0.7 s, each well inside the read timeout
    client = UebaClient(server.url, token="t", timeout=0.5, deadline=5.0)

    assert client.get_status().version == "40.0.0"
