"""httpx authentication flows for PrivX: a static bearer token, or the OAuth2 password grant.

The token request is yielded from the flow, so it travels through the client's own transport (TLS
settings, timeouts, a test's MockTransport) like any other request.
"""

from __future__ import annotations

import base64
import logging
import math
import threading
import time
from collections.abc import Callable, Generator
from typing import Annotated

import httpx
from pydantic import BaseModel, BeforeValidator, ValidationError

from ueba_api.errors import ApiResponseValidationError, ApiStatusError, AuthenticationError
from ueba_api.settings import clean_token

logger = logging.getLogger("ueba_api")

TOKEN_PATH = "/auth/api/v1/oauth/token"
# Log in again this long before the token runs out, so no request leaves with a token about to die;
# a short-lived token is renewed after half its lifetime instead.
REFRESH_MARGIN_SECONDS = 30.0

# OAuth2 (RFC 6749 §5.2) refuses bad client credentials with 401 and a bad password with 400: both mean
# the login failed, which callers catch as AuthenticationError rather than as a malformed request.
LOGIN_REFUSED = frozenset({400, 401})

AuthFlow = Generator[httpx.Request, httpx.Response, None]


class BearerTokenAuth(httpx.Auth):
    """A ready token: sent as it is, never renewed."""

    def __init__(self, token: str) -> None:
        self._token = token

    def auth_flow(self, request: httpx.Request) -> AuthFlow:
        request.headers["Authorization"] = f"Bearer {self._token}"
        yield request

    def __repr__(self) -> str:
        return "BearerTokenAuth(token='**********')"


class _TokenAnswer(BaseModel):
    # Checked as a configured token is: one that could not go into a header is refused here, naming the
    # field, rather than by httpx with the header's value in its message.
    access_token: Annotated[str, BeforeValidator(clean_token)]
    expires_in: float | None = None


class PasswordGrantAuth(httpx.Auth):
    """PrivX's OAuth2 password grant: log in once, reuse the token, renew it before it expires
    and once more when the server answers 401."""

    requires_response_body = True

    def __init__(
        self,
        token_url: str,
        *,
        client_id: str,
        client_secret: str,
        oauth_client_id: str,
        oauth_client_secret: str | None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._token_url = token_url
        self._form = {"grant_type": "password", "username": client_id, "password": client_secret}
        # PrivX's own SDKs send the OAuth client id and secret as they are, without form-encoding them.
        credentials = f"{oauth_client_id}:{oauth_client_secret or ''}".encode()
        self._basic_header = "Basic " + base64.b64encode(credentials).decode("ascii")
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._renew_at = 0.0

    def __repr__(self) -> str:
        return f"PasswordGrantAuth(token_url={self._token_url!r})"

    def auth_flow(self, request: httpx.Request) -> AuthFlow:
        token = yield from self._valid_token(request)
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code == httpx.codes.UNAUTHORIZED:
            # A revoked token, or a restarted server: log in once more and try once more.
            logger.debug("401 from %s %s: logging in again", request.method, request.url.path)
            token = yield from self._valid_token(request, rejected=token)
            request.headers["Authorization"] = f"Bearer {token}"
            yield request

    def _valid_token(
        self, request: httpx.Request, rejected: str | None = None
    ) -> Generator[httpx.Request, httpx.Response, str]:
        # Holding the lock across the yield is sound: httpx drives this generator synchronously in the
        # calling thread and closes it (leaving the `with`) if the exchange fails. Another thread that
        # waited meanwhile finds the fresh token and does not log in a second time.
        with self._lock:
            if self._token is not None and self._token == rejected:
                self._token = None  # refused: should this login fail, the next call logs in first
            if self._token is None or self._clock() >= self._renew_at:
                answer = yield self._token_request(request)
                self._store(answer)
            assert self._token is not None
            return self._token

    def _token_request(self, request: httpx.Request) -> httpx.Request:
        logger.debug("Logging in at %s (OAuth2 password grant)", self._token_url)
        headers = {"Authorization": self._basic_header, "Accept": "application/json"}
        if "User-Agent" in request.headers:
            headers["User-Agent"] = request.headers["User-Agent"]
        timeout = {"timeout": request.extensions["timeout"]} if "timeout" in request.extensions else {}
        return httpx.Request("POST", self._token_url, data=self._form, headers=headers, extensions=timeout)

    def _store(self, response: httpx.Response) -> None:
        if response.status_code in LOGIN_REFUSED:
            raise ApiStatusError.from_response(response, AuthenticationError)
        if not response.is_success:
            raise ApiStatusError.from_response(response)
        try:
            answer = _TokenAnswer.model_validate_json(response.content)
        except ValidationError as error:
            # `from None` and no body text: a half-valid answer may still hold the token.
            raise ApiResponseValidationError.from_response(response, error, keep_body=False) from None
        lifetime = answer.expires_in
        self._token = answer.access_token
        if lifetime is None:
            self._renew_at = math.inf
        else:
            self._renew_at = self._clock() + max(lifetime - REFRESH_MARGIN_SECONDS, lifetime / 2)
        logger.debug("Logged in; token valid for %s s", lifetime if lifetime is not None else "unknown")
