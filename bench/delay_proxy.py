"""A TCP proxy that delays every byte by a fixed time in each direction, as a server far away would.

    with DelayProxy("127.0.0.1", 8443, delay=0.010) as proxy:
        httpx.get(f"https://127.0.0.1:{proxy.port}/...")  # TLS passes through untouched

    python -m bench.delay_proxy 127.0.0.1:8443 0.010   # prints its port, serves until killed

It is a process of its own (asyncio), so that it takes no interpreter time from the client measured.
Each direction forwards chunks in order, each one `delay` seconds after it arrived, without waiting for
the one before to be written: latency, not a bandwidth limit. A new connection reaches the target one
round trip (2 x `delay`) late, as a TCP handshake would; each request then takes 2 x `delay` more.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from types import TracebackType

from ueba_server.launch import PROJECT_ROOT

STARTUP_TIMEOUT = 30.0


class DelayProxy:
    def __init__(self, target_host: str, target_port: int, delay: float) -> None:
        self.command = [sys.executable, "-m", "bench.delay_proxy", f"{target_host}:{target_port}", str(delay)]
        self.port = 0
        self._process: subprocess.Popen[str] | None = None

    def __enter__(self) -> DelayProxy:
        self._process = subprocess.Popen(self.command, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, text=True)
        assert self._process.stdout is not None
        self.port = int(self._process.stdout.readline())
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(10)


async def serve(target_host: str, target_port: int, delay: float) -> None:
    async def connection(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(delay)  # the SYN's way there; the connect below, then the SYN-ACK's way back
        try:
            server_reader, server_writer = await asyncio.open_connection(target_host, target_port)
        except OSError:
            client_writer.close()
            return
        await asyncio.sleep(delay)
        await asyncio.gather(
            relay(client_reader, server_writer, delay),
            relay(server_reader, client_writer, delay),
            return_exceptions=True,
        )

    server = await asyncio.start_server(connection, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()


async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
    """Forwards what `reader` receives to `writer`, each chunk `delay` seconds late, in order."""
    loop = asyncio.get_running_loop()
    chunks: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def forward() -> None:
        while True:
            due, chunk = await chunks.get()
            await asyncio.sleep(max(0.0, due - loop.time()))
            if not chunk:
                break
            writer.write(chunk)
            await writer.drain()

    forwarding = asyncio.create_task(forward())
    try:
        while True:
            chunk = await reader.read(65536)
            chunks.put_nowait((loop.time() + delay, chunk))
            if not chunk:
                break
        await forwarding
    finally:
        forwarding.cancel()
        writer.close()


if __name__ == "__main__":
    host, port = sys.argv[1].rsplit(":", 1)
    asyncio.run(serve(host, int(port), float(sys.argv[2])))
