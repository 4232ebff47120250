"""Where and how to reach a PrivX UEBA API: one settings object for the notebook, the app and the CLI.

The same `ClientSettings` is filled from `PRIVX_API_*` environment variables (`from_env`), from
Streamlit secrets or from a form; `UebaClient.from_settings` turns it into a client. Secrets are
`SecretStr`, so they never show in a repr, a log line or a validation error.

Timeouts: `timeout` (seconds, default 30) bounds each phase of a request: sending it, waiting for the
answer, waiting for a free pooled connection. Connecting has its own, shorter `connect_timeout`
(default the smaller of `timeout` and 10 s): an address that silently drops packets would otherwise
hold each attempt for the whole `timeout`, and a connect that failed is retried (`max_retries`), so a
mistyped address in a notebook or the app took 3 × 30 s to report; now it takes 3 × 10 s.
"""

from __future__ import annotations

import math
import os
import ssl
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated

import httpx
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    SecretStr,
    field_validator,
    model_validator,
)

ENV_PREFIX = "PRIVX_API_"
DEFAULT_OAUTH_CLIENT_ID = "privx-external"
PEM_MARKER = "-----BEGIN"
DEFAULT_TIMEOUT = 30.0
DEFAULT_CONNECT_TIMEOUT = 10.0
HTTPX_TIMEOUT_PHASES = ("connect", "read", "write", "pool")


def _timeout(value: object) -> float | httpx.Timeout:
    """Seconds above 0 (a number, or its text as secrets and forms give it), or an `httpx.Timeout`
    whose phases are each seconds above 0 or None (no limit)."""
    if isinstance(value, httpx.Timeout):
        for phase in HTTPX_TIMEOUT_PHASES:
            seconds = getattr(value, phase)
            if seconds is not None and not (math.isfinite(seconds) and seconds > 0):
                raise ValueError(f"{phase} must be a number of seconds above 0, or None for no limit")
        return value
    if isinstance(value, bool):  # float(True) is 1.0: a flag is no number of seconds
        raise ValueError("must be a number of seconds or an httpx.Timeout")
    try:
        seconds = float(value)  # type: ignore[arg-type]  # anything else is refused just below
    except (TypeError, ValueError):
        raise ValueError("must be a number of seconds or an httpx.Timeout") from None
    if not (math.isfinite(seconds) and seconds > 0):
        raise ValueError("must be a number of seconds above 0 (httpx.Timeout(None) for no limit)")
    return seconds


def tls_context(ca_cert: str) -> ssl.SSLContext:
    """A verifying TLS context trusting `ca_cert`, given as a file path or as PEM text."""
    if PEM_MARKER in ca_cert:
        return ssl.create_default_context(cadata=ca_cert)
    return ssl.create_default_context(cafile=ca_cert)


def reveal(secret: SecretStr | None) -> str | None:
    """The plain value of a secret, for the one place that must send it."""
    return secret.get_secret_value() if secret is not None else None


class ClientSettings(BaseModel):
    """Connection settings; authenticate with `token`, or with `client_id` and `client_secret`.

    A static `token` is used as it is when given, even if client credentials are set too.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    base_url: str
    token: SecretStr | None = None
    client_id: str | None = None
    client_secret: SecretStr | None = None
    oauth_client_id: str = DEFAULT_OAUTH_CLIENT_ID
    oauth_client_secret: SecretStr | None = None
    # A CA bundle is public, but a PEM text would swamp the repr.
    ca_cert: str | None = Field(default=None, repr=False)
    verify: bool = True
    # Seconds for each phase of a request, or an httpx.Timeout per phase; see the module's docstring.
    timeout: Annotated[float | httpx.Timeout, PlainValidator(_timeout)] = DEFAULT_TIMEOUT
    # Seconds to connect; None: the httpx.Timeout's own, or for plain seconds the smaller of them and 10 s.
    connect_timeout: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    max_retries: int = Field(default=2, ge=0, le=10)

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        try:
            url = httpx.URL(value.strip())
        except httpx.InvalidURL as error:
            raise ValueError(f"is not a valid URL ({error})") from None
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError("must be an http(s) URL such as https://privx.example.com")
        if url.userinfo:
            # It would show in every repr and error message; credentials have fields of their own.
            raise ValueError("must not hold a user name or password")
        return str(url).rstrip("/")

    @field_validator("ca_cert", mode="before")
    @classmethod
    def _loadable_ca_cert(cls, value: object) -> object:
        if isinstance(value, os.PathLike):
            value = os.fspath(value)
        if not isinstance(value, str):
            return value  # None, or a wrong type that the field's own check names
        if not value.strip():
            return None
        if PEM_MARKER not in value and not Path(value).is_file():
            raise ValueError("must be PEM text or the path of a PEM file; no such file")
        try:
            tls_context(value)
        except (ssl.SSLError, ValueError) as error:
            raise ValueError(f"is not a readable PEM certificate ({error})") from None
        return value

    @model_validator(mode="after")
    def _has_credentials(self) -> ClientSettings:
        if self.token is not None:
            return self
        if self.client_id is None and self.client_secret is None:
            raise ValueError("give either token, or client_id and client_secret")
        if self.client_id is None:
            raise ValueError("client_id is required with client_secret")
        if self.client_secret is None:
            raise ValueError("client_secret is required with client_id")
        return self

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> ClientSettings:
        """Read `PRIVX_API_BASE_URL`, `PRIVX_API_CLIENT_ID`, `PRIVX_API_CLIENT_SECRET`,
        `PRIVX_API_OAUTH_CLIENT_ID`, `PRIVX_API_OAUTH_CLIENT_SECRET`, `PRIVX_API_TOKEN` and
        `PRIVX_API_CA_CERT` (a path or PEM text); empty variables count as unset."""
        environ = os.environ if environ is None else environ
        names = ("base_url", "token", "client_id", "client_secret", "oauth_client_id",
                 "oauth_client_secret", "ca_cert")
        values = {name: environ.get(ENV_PREFIX + name.upper(), "").strip() for name in names}
        return cls.model_validate({**{name: value for name, value in values.items() if value}, **overrides})

    def http_timeout(self) -> httpx.Timeout:
        """What httpx's `timeout` takes: `timeout` per phase, with `connect_timeout` for connecting."""
        if isinstance(self.timeout, httpx.Timeout):
            given = self.timeout
            connect = given.connect if self.connect_timeout is None else self.connect_timeout
            return httpx.Timeout(connect=connect, read=given.read, write=given.write, pool=given.pool)
        connect = self.connect_timeout
        if connect is None:
            # A connect timeout above the whole timeout would make no sense: a short timeout caps it.
            connect = min(self.timeout, DEFAULT_CONNECT_TIMEOUT)
        return httpx.Timeout(self.timeout, connect=connect)

    def tls_verify(self) -> ssl.SSLContext | bool:
        """What httpx's `verify` takes: a context trusting `ca_cert`, or plain True/False."""
        if self.verify and self.ca_cert:
            return tls_context(self.ca_cert)
        return self.verify
