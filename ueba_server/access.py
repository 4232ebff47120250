"""Who may call a UEBA route: the bearer token a request carries, checked for the route's permission.

`ueba-view` lets a caller read, `ueba-manage` lets it change: no token or a bad one is 401, a good token
without the permission is 403 (tokens are issued by `auth.py`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPBearer

from ueba_api.models import ErrorCode
from ueba_server.auth import MANAGE, VIEW, Caller
from ueba_server.errors import ApiError
from ueba_server.state import ServerState


@dataclass(frozen=True)
class Authorized:
    """What a route of the API gets once its caller is authorized: who called, and the server's state."""

    caller: Caller
    state: ServerState


class _BearerPermission(HTTPBearer):
    """The bearer scheme, the permission check and the server's state in one dependency: OpenAPI still
    names the HTTPBearer scheme, and a request solves one dependency besides its route, not a chain of
    three (FastAPI's dependency solving was the largest part of a read's time, docs/server.md)."""

    def __init__(self, permission: str) -> None:
        super().__init__(scheme_name="HTTPBearer", auto_error=False)
        self.permission = permission

    async def __call__(self, request: Request) -> Authorized:  # type: ignore[override]
        # HTTPBearer's own reading of the header, without the credentials model it builds around it.
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        token = token.strip()
        challenge = {"WWW-Authenticate": "Bearer"}
        if scheme.lower() != "bearer" or not token:
            raise ApiError(401, "Authorization missing: send a bearer token", headers=challenge)
        state: ServerState = request.app.state.server
        caller = state.tokens.caller(token)
        if caller is None:
            raise ApiError(401, "The bearer token is invalid or has expired", headers=challenge)
        if self.permission not in caller.permissions:
            message = f"The {self.permission} permission is required"
            raise ApiError(403, message, code=ErrorCode.PERMISSION_DENIED)
        return Authorized(caller, state)


Viewer = Annotated[Authorized, Depends(_BearerPermission(VIEW))]
Manager = Annotated[Authorized, Depends(_BearerPermission(MANAGE))]
