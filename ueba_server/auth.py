"""PrivX-like OAuth2: the password grant of API clients, behind Basic auth of the OAuth client, issues
random bearer tokens that expire. Tokens live in memory only: after a restart, clients log in again.

A token carries its client's permissions, `ueba-view` and `ueba-manage` (what each lets a caller do, and
the check on every route: `access.py`). Failed logins are throttled per caller (see LoginThrottle).
"""

from __future__ import annotations

import math
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Form, Request
from fastapi.security import HTTPBasic, HTTPBasicCredentials
from pydantic import BaseModel

from ueba_server.config import LOGIN_FAILURE_LIMIT, LOGIN_FAILURE_WINDOW_SECONDS, ApiClient, ServerConfig
from ueba_server.errors import OAuthError, OAuthErrorBody

TOKEN_PATH = "/auth/api/v1/oauth/token"
VIEW = "ueba-view"
MANAGE = "ueba-manage"


@dataclass(frozen=True)
class Caller:
    name: str
    permissions: frozenset[str]


@dataclass(frozen=True)
class IssuedToken:
    caller: Caller
    expires_at: float
    value: str = field(repr=False)


class TokenStore:
    def __init__(self, lifetime_seconds: int) -> None:
        self.lifetime_seconds = lifetime_seconds
        self._tokens: dict[str, IssuedToken] = {}
        self._lock = threading.Lock()

    def issue(self, client: ApiClient) -> IssuedToken:
        now = time.monotonic()
        token = IssuedToken(
            Caller(client.client_id, client.permissions),
            now + self.lifetime_seconds,
            secrets.token_urlsafe(32),
        )
        with self._lock:
            self._tokens = {value: kept for value, kept in self._tokens.items() if kept.expires_at > now}
            self._tokens[token.value] = token
        return token

    def caller(self, value: str) -> Caller | None:
        with self._lock:
            token = self._tokens.get(value)
        if token is None or token.expires_at <= time.monotonic():
            return None
        return token.caller


class TokenResponse(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int
    scope: str


class LoginThrottle:
    """Refuses logins from a caller (peer address and the client id it names) that failed `limit`
    times within `window_seconds`, until the oldest of those failures is older than the window.

    A password guesser gets `limit` tries a window instead of ~50 a second; the real client, from
    another address or under another id, is not locked out by someone else's guesses. A success clears
    the caller's failures. In memory, like the tokens: a restart forgets them.
    """

    def __init__(
        self, limit: int = LOGIN_FAILURE_LIMIT, window_seconds: float = LOGIN_FAILURE_WINDOW_SECONDS
    ) -> None:
        self.limit = limit
        self.window_seconds = window_seconds
        self._failures: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    def retry_after(self, caller: tuple[str, str]) -> int | None:
        """Whole seconds the caller must wait, or None when it may try now."""
        now = time.monotonic()
        with self._lock:
            failures = self._recent(caller, now)
            if len(failures) < self.limit:
                return None
            return max(1, math.ceil(failures[0] + self.window_seconds - now))

    def failed(self, caller: tuple[str, str]) -> None:
        now = time.monotonic()
        with self._lock:
            self._recent(caller, now).append(now)

    def succeeded(self, caller: tuple[str, str]) -> None:
        with self._lock:
            self._failures.pop(caller, None)

    def _recent(self, caller: tuple[str, str], now: float) -> deque[float]:
        failures = self._failures.setdefault(caller, deque())
        while failures and failures[0] <= now - self.window_seconds:
            failures.popleft()
        return failures


router = APIRouter(tags=["auth"])
_basic = HTTPBasic(auto_error=False)


@router.post(
    TOKEN_PATH,
    response_model=TokenResponse,
    responses={
        400: {"model": OAuthErrorBody},
        401: {"model": OAuthErrorBody},
        429: {"model": OAuthErrorBody, "description": "Too many failed logins: wait Retry-After seconds"},
    },
    summary="Password grant for API clients (Basic auth of the OAuth client)",
)
def issue_token(
    request: Request,
    oauth_client: Annotated[HTTPBasicCredentials | None, Depends(_basic)],
    grant_type: Annotated[str | None, Form()] = None,
    username: Annotated[str | None, Form()] = None,
    password: Annotated[str | None, Form()] = None,
) -> TokenResponse:
    throttle: LoginThrottle = request.app.state.server.login_throttle
    caller = (request.client.host if request.client else "", username or "")
    wait = throttle.retry_after(caller)
    if wait is not None:
        raise OAuthError(
            429,
            "slow_down",
            f"Too many failed logins for this client: try again in {wait} s",
            headers={"Retry-After": str(wait)},
        )
    try:
        token = _issue(request, oauth_client, grant_type, username, password)
    except OAuthError as error:
        if error.error in ("invalid_client", "invalid_grant"):
            throttle.failed(caller)
        raise
    throttle.succeeded(caller)
    return token


def _issue(
    request: Request,
    oauth_client: HTTPBasicCredentials | None,
    grant_type: str | None,
    username: str | None,
    password: str | None,
) -> TokenResponse:
    config: ServerConfig = request.app.state.server.config
    expected = config.oauth_client
    if oauth_client is None or not (
        secrets.compare_digest(oauth_client.username, expected.client_id)
        and secrets.compare_digest(oauth_client.password, expected.secret)
    ):
        raise OAuthError(401, "invalid_client", "OAuth client authentication failed (Basic auth)")
    if not grant_type:
        raise OAuthError(400, "invalid_request", "grant_type is required")
    if grant_type != "password":
        raise OAuthError(400, "unsupported_grant_type", f"grant_type {grant_type!r} is not supported")
    if not username or not password:
        raise OAuthError(400, "invalid_request", "username and password are required")
    client = _matching_client(config.api_clients, username, password)
    if client is None:
        raise OAuthError(400, "invalid_grant", "Invalid API client credentials")
    tokens: TokenStore = request.app.state.server.tokens
    token = tokens.issue(client)
    return TokenResponse(
        access_token=token.value,
        expires_in=tokens.lifetime_seconds,
        scope=" ".join(sorted(client.permissions)),
    )


def _matching_client(clients: tuple[ApiClient, ...], client_id: str, secret: str) -> ApiClient | None:
    for client in clients:
        # Compare both in full for every client: the time taken says nothing about which part was wrong.
        id_matches = secrets.compare_digest(client.client_id.encode(), client_id.encode())
        secret_matches = secrets.compare_digest(client.secret.encode(), secret.encode())
        if id_matches and secret_matches:
            return client
    return None


def install_auth(app: FastAPI) -> None:
    app.include_router(router)
