"""PrivX-like OAuth2: the password grant of API clients, behind Basic auth of the OAuth client, issues
random bearer tokens that expire. Tokens live in memory only: after a restart, clients log in again.

`ueba-view` lets a caller read, `ueba-manage` lets it change: no token or a bad one is 401, a good
token without the permission is 403.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Form, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBasic, HTTPBasicCredentials, HTTPBearer
from pydantic import BaseModel

from ueba_api.models import ErrorCode
from ueba_server.config import ApiClient, ServerConfig
from ueba_server.errors import ApiError

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


class OAuthError(Exception):
    """Answered in the OAuth2 shape `{error, error_description}`, not the UEBA error body."""

    def __init__(self, status_code: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status_code = status_code
        self.error = error
        self.description = description


class TokenResponse(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int
    scope: str


class OAuthErrorBody(BaseModel):
    error: str
    error_description: str


router = APIRouter(tags=["auth"])
_basic = HTTPBasic(auto_error=False)
_bearer = HTTPBearer(auto_error=False)


@router.post(
    TOKEN_PATH,
    response_model=TokenResponse,
    responses={400: {"model": OAuthErrorBody}, 401: {"model": OAuthErrorBody}},
    summary="Password grant for API clients (Basic auth of the OAuth client)",
)
def issue_token(
    request: Request,
    oauth_client: Annotated[HTTPBasicCredentials | None, Depends(_basic)],
    grant_type: Annotated[str | None, Form()] = None,
    username: Annotated[str | None, Form()] = None,
    password: Annotated[str | None, Form()] = None,
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


async def _oauth_error(_: Request, exc: OAuthError) -> JSONResponse:
    headers = {"WWW-Authenticate": 'Basic realm="privx"'} if exc.status_code == 401 else None
    body = OAuthErrorBody(error=exc.error, error_description=exc.description).model_dump()
    return JSONResponse(body, status_code=exc.status_code, headers=headers)


def install_auth(app: FastAPI) -> None:
    app.include_router(router)
    app.add_exception_handler(OAuthError, _oauth_error)


def _permission(permission: str) -> Callable[..., Caller]:
    def authorize(
        request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
    ) -> Caller:
        challenge = {"WWW-Authenticate": "Bearer"}
        if credentials is None:
            raise ApiError(401, "Authorization missing: send a bearer token", headers=challenge)
        caller = request.app.state.server.tokens.caller(credentials.credentials)
        if caller is None:
            raise ApiError(401, "The bearer token is invalid or has expired", headers=challenge)
        if permission not in caller.permissions:
            raise ApiError(403, f"The {permission} permission is required", code=ErrorCode.PERMISSION_DENIED)
        return caller

    return authorize


ViewCaller = Annotated[Caller, Depends(_permission(VIEW))]
ManageCaller = Annotated[Caller, Depends(_permission(MANAGE))]
