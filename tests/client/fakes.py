"""Test doubles for client tests: a scripted fake server behind httpx.MockTransport, a sleep recorder, a
manual clock, and the example payloads of the PrivX API reference."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from ueba_api import UebaClient

BASE_URL = "https://privx.example.com"
API = BASE_URL + "/connection-manager/api/v1/ueba"
TOKEN_URL = BASE_URL + "/auth/api/v1/oauth/token"
PAYLOADS = Path(__file__).parent / "payloads"

# Values that must never leave the client except in the one header or form that carries them.
BEARER_TOKEN = "static-bearer-token-7f3a"
CLIENT_SECRET = "api-client-secret-51c9"
OAUTH_CLIENT_SECRET = "oauth-client-secret-c2e8"
ACCESS_TOKEN = "issued-access-token-9d04"
SECRETS = (BEARER_TOKEN, CLIENT_SECRET, OAUTH_CLIENT_SECRET, ACCESS_TOKEN)

Answer = httpx.Response | Exception


def payload_text(name: str) -> str:
    """An example payload copied verbatim from the PrivX API reference text."""
    return (PAYLOADS / name).read_text()


def payload(name: str) -> Any:
    return json.loads(payload_text(name))


def reply(status: int = 200, body: Any = None, *, text: str | None = None, **headers: str) -> httpx.Response:
    """A response with a JSON body (or `text` as it is); keyword headers use `_` for `-`."""
    header_map = {name.replace("_", "-"): value for name, value in headers.items()}
    if text is not None:
        return httpx.Response(status, text=text, headers=header_map)
    if body is None:
        return httpx.Response(status, headers=header_map)
    return httpx.Response(status, json=body, headers=header_map)


def token_reply(access_token: str = ACCESS_TOKEN, expires_in: int = 300) -> httpx.Response:
    return reply(200, {"access_token": access_token, "token_type": "bearer", "expires_in": expires_in,
                       "refresh_token": "refresh-token-unused", "scope": "ueba-manage"})


class FakeServer:
    """Answers each request with the next scripted answer, raising it when it is an exception,
    and keeps every request (with its body read) for the test to inspect, and the timeouts each was
    sent with (seconds per phase: connect, read, write, pool)."""

    def __init__(self, answers: list[Answer]) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []
        self.timeouts: list[dict[str, float | None]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        # A snapshot: the auth flow may change this very request's headers and send it again.
        self.requests.append(
            httpx.Request(request.method, request.url, headers=request.headers, content=request.read())
        )
        self.timeouts.append(request.extensions.get("timeout", {}))
        if not self.answers:
            raise AssertionError(f"unexpected request {request.method} {request.url}")
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    @property
    def only_request(self) -> httpx.Request:
        assert len(self.requests) == 1, [f"{r.method} {r.url}" for r in self.requests]
        return self.requests[0]

    def api_requests(self) -> list[httpx.Request]:
        return [request for request in self.requests if str(request.url) != TOKEN_URL]

    def token_requests(self) -> list[httpx.Request]:
        return [request for request in self.requests if str(request.url) == TOKEN_URL]


class SleepRecorder:
    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


class ManualClock:
    """A monotonic clock the test moves by hand, so token expiry needs no sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


ClientFactory = Callable[..., tuple[UebaClient, FakeServer]]

STATIC_TOKEN_LOGIN = {"token": BEARER_TOKEN}
PASSWORD_GRANT_LOGIN = {
    "client_id": "api-client-id",
    "client_secret": CLIENT_SECRET,
    "oauth_client_secret": OAUTH_CLIENT_SECRET,
}
