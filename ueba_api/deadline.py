"""A call's overall deadline, held at every read, write and connect on the network, in the caller's thread.

httpx's timeouts bound each read, not their sum: a server trickling its answer a byte at a time never
trips them. `DeadlineTransport` is httpx's own transport whose network streams cap every operation's
timeout at the time the current call has left (`Deadline.applied` sets it for the calling thread or
task), so the call ends at its deadline in whatever phase it is, headers included, with no thread per
call (a thread handed each exchange cost up to a millisecond a call).
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpcore
import httpx

_CALL_END: contextvars.ContextVar[float | None] = contextvars.ContextVar("ueba_api_call_end", default=None)


class Deadline:
    """The moment a call must end by (`time.monotonic`), or none."""

    def __init__(self, seconds: float | None) -> None:
        self._end = None if seconds is None else time.monotonic() + seconds

    def left(self) -> float | None:
        return None if self._end is None else max(0.0, self._end - time.monotonic())

    def passed(self) -> bool:
        return self.left() == 0.0

    def allows(self, pause: float) -> bool:
        """Whether a pause of `pause` seconds still leaves time for another attempt."""
        left = self.left()
        return left is None or pause < left

    @contextmanager
    def applied(self) -> Iterator[None]:
        """While inside, network operations of a `DeadlineTransport` in this thread end by the deadline."""
        token = _CALL_END.set(self._end)
        try:
            yield
        finally:
            _CALL_END.reset(token)


def _capped(timeout: float | None, expired: type[httpcore.TimeoutException]) -> float | None:
    """`timeout`, or less when the current call has less left; `expired` is raised when it has none."""
    end = _CALL_END.get()
    if end is None:
        return timeout
    left = end - time.monotonic()
    if left <= 0:
        raise expired("the call's deadline passed")
    return left if timeout is None else min(timeout, left)


class _Stream(httpcore.NetworkStream):
    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, _capped(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, _capped(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(self, ssl_context: Any, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:  # fmt: skip
        return _Stream(self._stream.start_tls(
            ssl_context, server_hostname, _capped(timeout, httpcore.ConnectTimeout)))  # fmt: skip

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _Backend(httpcore.NetworkBackend):
    def __init__(self, backend: httpcore.NetworkBackend) -> None:
        self._backend = backend

    def connect_tcp(
        self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.NetworkStream:
        capped = _capped(timeout, httpcore.ConnectTimeout)
        return _Stream(self._backend.connect_tcp(host, port, capped, local_address, socket_options))

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Any = None) -> httpcore.NetworkStream:  # fmt: skip
        return _Stream(self._backend.connect_unix_socket(
            path, _capped(timeout, httpcore.ConnectTimeout), socket_options))  # fmt: skip

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


class DeadlineTransport(httpx.HTTPTransport):
    """httpx's HTTP transport (same options), its network operations held to the current call's deadline."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        # httpx builds its httpcore pool itself and takes no network backend: the pool's own is wrapped.
        # tests/client/test_deadline.py fails at once should a new httpx version move it.
        self._pool._network_backend = _Backend(self._pool._network_backend)
