"""A reverse proxy that records each request it forwards and the size of each answer, for tests that
measure what a page asks of the server (requests and bytes), whatever client the page uses.

    with CountingProxy(server.base_url) as proxy:
        ... point the app at proxy.url ...
        proxy.exchanges  # [Exchange(method, path, query, status, body_bytes), ...]
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import httpx

# Hop-by-hop headers are the proxy's own business; the rest go through as they came.
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "accept-encoding",
              "content-encoding"}


@dataclass(frozen=True)
class Exchange:
    method: str
    path: str
    query: str
    status: int
    body_bytes: int


class CountingProxy:
    def __init__(self, upstream: str) -> None:
        self.exchanges: list[Exchange] = []
        self._lock = threading.Lock()
        self._upstream = httpx.Client(base_url=upstream, timeout=120)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_: object) -> None:
                pass

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {name: value for name, value in self.headers.items()
                           if name.lower() not in HOP_BY_HOP}
                answer = proxy._upstream.request(self.command, self.path, headers=headers, content=body)
                parts = urlsplit(self.path)
                exchange = Exchange(self.command, parts.path, parts.query, answer.status_code,
                                    len(answer.content))
                with proxy._lock:
                    proxy.exchanges.append(exchange)
                self.send_response(answer.status_code)
                for name, value in answer.headers.items():
                    if name.lower() not in HOP_BY_HOP:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            do_GET = do_POST = do_PUT = do_DELETE = _forward

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> CountingProxy:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._upstream.close()

    def take(self) -> list[Exchange]:
        """The exchanges recorded since the last take."""
        with self._lock:
            taken, self.exchanges = self.exchanges, []
        return taken
