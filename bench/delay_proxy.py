"""A TCP proxy that delays every byte by a fixed time in each direction, as a server far away would.

    with DelayProxy("127.0.0.1", 8443, delay=0.010) as proxy:
        httpx.get(f"https://127.0.0.1:{proxy.port}/...")  # TLS passes through untouched

It runs its own asyncio loop in a thread. Each direction forwards chunks in order, each one `delay`
seconds after it arrived, without waiting for the one before to be written: latency, not a bandwidth
limit. A connection's round trip through it takes 2 x `delay` more than a direct one.
"""

from __future__ import annotations

import asyncio
import threading
from types import TracebackType


class DelayProxy:
    def __init__(self, target_host: str, target_port: int, delay: float) -> None:
        self.target = (target_host, target_port)
        self.delay = delay
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="delay-proxy", daemon=True)

    def __enter__(self) -> DelayProxy:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the delay proxy did not start")
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._connection, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            server.close()
            for task in asyncio.all_tasks(self._loop):
                task.cancel()
            self._loop.run_until_complete(asyncio.sleep(0))
            self._loop.close()

    async def _connection(
        self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter
    ) -> None:
        await asyncio.sleep(self.delay)  # the SYN's way there; the connect below adds the way back
        try:
            server_reader, server_writer = await asyncio.open_connection(*self.target)
        except OSError:
            client_writer.close()
            return
        await asyncio.sleep(self.delay)
        await asyncio.gather(
            self._direction(client_reader, server_writer), self._direction(server_reader, client_writer)
        )

    async def _direction(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
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
                chunks.put_nowait((loop.time() + self.delay, chunk))
                if not chunk:
                    break
            await forwarding
        except (ConnectionError, OSError):
            forwarding.cancel()
        finally:
            writer.close()
