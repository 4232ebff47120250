"""A fault-injecting HTTP proxy on loopback, for putting in front of the reference server.

It runs an asyncio server in a thread of its own. Each request it reads (HTTP/1.1, with a Content-Length
body, as httpx sends them) takes the first planned fault whose text occurs in its request line, or
passes through unharmed. Every request goes upstream on a connection of its own (`Connection: close`),
so one request's fault never touches the next. `seen` records each request line with the fault applied,
which is how a test counts the client's attempts.
"""

from __future__ import annotations

import asyncio
import enum
import re
import threading
from dataclasses import dataclass, field

HTML_ERROR = (
    "<html><head><title>{status} {reason}</title></head><body><center><h1>{status} {reason}</h1></center>"
    "<hr><center>nginx</center></body></html>"
)
REASONS = {502: "Bad Gateway", 503: "Service Temporarily Unavailable"}
CONTENT_LENGTH = re.compile(rb"(?im)^content-length:\s*(\d+)\r\n")


class Fault(enum.Enum):
    PASS = "pass"
    DROP_BEFORE = "drop the connection before forwarding"
    DROP_AFTER = "forward, then drop the connection without an answer"
    GATEWAY_502 = "answer 502 with an HTML page, without forwarding"
    GATEWAY_502_AFTER = "forward, then answer 502 with an HTML page"
    GATEWAY_503 = "answer 503 with an HTML page, without forwarding"
    STALL = "forward, then never answer"
    TRICKLE = "forward, then send the answer a byte at a time"
    TRUNCATE = "forward, then send half the body and close"
    TRUNCATE_CLEAN = "forward, then send half the body with a Content-Length to match"


@dataclass
class Seen:
    request_line: str
    fault: Fault


@dataclass
class _Planned:
    where: str
    fault: Fault


@dataclass
class FaultProxy:
    upstream_host: str
    upstream_port: int
    trickle_interval: float = 0.1
    seen: list[Seen] = field(default_factory=list)
    _plan: list[_Planned] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> FaultProxy:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fault-proxy", daemon=True)
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._handle, "127.0.0.1", 0), self._loop
        ).result(10)
        self.url = f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"
        return self

    def inject(self, where: str, *faults: Fault) -> None:
        """The next requests whose request line holds `where` meet `faults`, one each, in order."""
        with self._lock:
            self._plan.extend(_Planned(where, fault) for fault in faults)

    def attempts(self, where: str) -> int:
        return sum(where in seen.request_line for seen in self.seen)

    def close(self) -> None:
        async def stop() -> None:
            self._server.close()
            tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def _next_fault(self, request_line: str) -> Fault:
        with self._lock:
            for index, planned in enumerate(self._plan):
                if planned.where in request_line:
                    del self._plan[index]
                    return planned.fault
        return Fault.PASS

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while await self._one_request(reader, writer):
                pass
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the client went away
        finally:
            writer.close()

    async def _one_request(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Serves one request; False when the client connection is done."""
        head = await reader.readuntil(b"\r\n\r\n")
        length = CONTENT_LENGTH.search(head)
        body = await reader.readexactly(int(length.group(1))) if length else b""
        request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
        fault = self._next_fault(request_line)
        self.seen.append(Seen(request_line, fault))
        if fault is Fault.DROP_BEFORE:
            return False
        if fault in (Fault.GATEWAY_502, Fault.GATEWAY_503):
            writer.write(_html_error(502 if fault is Fault.GATEWAY_502 else 503))
            await writer.drain()
            return False
        answer = await self._forward(head, body)
        if fault is Fault.DROP_AFTER:
            return False
        if fault is Fault.GATEWAY_502_AFTER:
            writer.write(_html_error(502))
        elif fault is Fault.STALL:
            await reader.read()  # until the client gives up and closes
            return False
        elif fault is Fault.TRICKLE:
            for index in range(len(answer)):
                writer.write(answer[index : index + 1])
                await writer.drain()
                await asyncio.sleep(self.trickle_interval)
        elif fault in (Fault.TRUNCATE, Fault.TRUNCATE_CLEAN):
            writer.write(_truncated(answer, clean=fault is Fault.TRUNCATE_CLEAN))
        else:
            writer.write(answer)
        await writer.drain()
        return False  # the upstream answered `Connection: close`, so the client does not reuse this one

    async def _forward(self, head: bytes, body: bytes) -> bytes:
        """The upstream's whole answer to the request, sent on a connection of its own."""
        reader, writer = await asyncio.open_connection(self.upstream_host, self.upstream_port)
        try:
            lines = [line for line in head[:-4].split(b"\r\n") if not line.lower().startswith(b"connection:")]
            writer.write(b"\r\n".join([*lines, b"Connection: close"]) + b"\r\n\r\n" + body)
            await writer.drain()
            return await reader.read()
        finally:
            writer.close()


def _html_error(status: int) -> bytes:
    page = HTML_ERROR.format(status=status, reason=REASONS[status]).encode()
    return (
        f"HTTP/1.1 {status} {REASONS[status]}\r\nContent-Type: text/html\r\nContent-Length: {len(page)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode() + page


def _truncated(answer: bytes, *, clean: bool) -> bytes:
    """Half the answer's body; `clean` with the Content-Length saying so (a proxy that cut and re-framed
    it), else the original length (the connection then closes short of it)."""
    head, _, body = answer.partition(b"\r\n\r\n")
    half = body[: len(body) // 2]
    if clean:
        head = CONTENT_LENGTH.sub(b"content-length: %d\r\n" % len(half), head + b"\r\n")[:-2]
    return head + b"\r\n\r\n" + half
