"""Refuses request bodies above a size limit before anything parses them (413)."""

from __future__ import annotations

import json

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ueba_api.models import ErrorCode
from ueba_server.errors import error_body


class BodyTooLarge(HTTPException):
    """Raised from `receive`: FastAPI passes HTTPExceptions raised while reading the body through,
    so the app's error handlers answer it with the contract body."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, self.message(limit))

    @staticmethod
    def message(limit: int) -> str:
        return f"Request body too large: the limit is {limit} bytes"


class BodySizeLimit:
    """Pure ASGI middleware: checks `Content-Length` first, then counts streamed (chunked) bytes."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self._declared_length(scope) > self.max_bytes:
            await self._refuse(send)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        await self.app(scope, counting_receive, send)

    @staticmethod
    def _declared_length(scope: Scope) -> int:
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    return int(value)
                except ValueError:
                    return 0
        return 0

    async def _refuse(self, send: Send) -> None:
        message = BodyTooLarge.message(self.max_bytes)
        payload = json.dumps(error_body(ErrorCode.VALUE_OUT_OF_BOUNDS, message, "body")).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})
