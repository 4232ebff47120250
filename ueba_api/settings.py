"""Where and how to reach a PrivX UEBA API: one settings object for the notebook, the app and the CLI.

The same `ClientSettings` is filled from `PRIVX_API_*` environment variables (`from_env`), from
Streamlit secrets or from a form; `UebaClient.from_settings` turns it into a client. Secrets are
`SecretStr`, so they never show in a repr, a log line or a validation error.

Timeouts: `timeout` (seconds, default 30) bounds each phase of a request: sending it, waiting for the
answer, waiting for a free pooled connection. Connecting has its own, shorter `connect_timeout`
(default the smaller of `timeout` and 10 s): an address that silently drops packets would otherwise
hold each attempt for the whole `timeout`, and a connect that failed is retried (`max_retries`), so a
mistyped address in a notebook or the app took 3 × 30 s to report; now it takes 3 × 10 s. A whole
call, its retries and pauses included, ends after `deadline` seconds (default twice the longest phase
timeout): a server trickling its answer a byte at a time cannot hold a call for ever. These four are
`CallOptions`, which `UebaClient.with_options` changes on a copy that shares the connection pool.

Tokens and secrets are stripped of surrounding whitespace (a pasted newline is the usual cause) and
refused, naming the field but never showing the value, when they hold what an HTTP header cannot carry.
No settings error echoes its input (`hide_input_in_errors`): it may be a secret, or a URL with a password.
"""

from __future__ import annotations

import math
import os
import ssl
import unicodedata
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import httpx
from pydantic import (
    BaseModel,
    BeforeValidator,
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
# The default deadline of a whole call, as a multiple of its longest phase timeout.
DEADLINE_PER_TIMEOUT = 2.0
# Characters a bearer token may hold: visible ASCII (RFC 6750's b64token is a subset), so it always
# fits an HTTP header; a space, a line break or any control character would break the header.
TOKEN_CHARACTERS = frozenset(chr(code) for code in range(0x21, 0x7F))


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


def _plain_text(value: object) -> str:
    """The text of a secret given as text or `SecretStr`; anything else is refused without showing it."""
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if not isinstance(value, str):
        raise ValueError("must be text")
    return value


def clean_token(value: object) -> str | None:
    """A bearer token without surrounding whitespace; None when blank. A space, line break, control
    or non-ASCII character inside it is refused (the message never holds the token)."""
    if value is None:
        return None
    token = _plain_text(value).strip()
    if not token:
        return None
    if any(character.isspace() for character in token):
        raise ValueError("must not contain spaces or line breaks inside it")
    if not set(token) <= TOKEN_CHARACTERS:
        raise ValueError("may hold only visible ASCII characters (it is sent in an HTTP header)")
    return token


def clean_secret(value: object) -> str | None:
    """A secret (a password) without surrounding whitespace; None when blank. Inner spaces are kept, as a
    password may have them, but control characters (a pasted line break) are refused."""
    if value is None:
        return None
    secret = _plain_text(value).strip()
    if not secret:
        return None
    if any(unicodedata.category(character) == "Cc" for character in secret):
        raise ValueError("must not contain line breaks or control characters")
    return secret


Token = Annotated[SecretStr | None, BeforeValidator(clean_token)]
Secret = Annotated[SecretStr | None, BeforeValidator(clean_secret)]


def tls_context(ca_cert: str) -> ssl.SSLContext:
    """A verifying TLS context trusting `ca_cert`, given as a file path or as PEM text."""
    if PEM_MARKER in ca_cert:
        return ssl.create_default_context(cadata=ca_cert)
    return ssl.create_default_context(cafile=ca_cert)


def reveal(secret: SecretStr | None) -> str | None:
    """The plain value of a secret, for the one place that must send it."""
    return secret.get_secret_value() if secret is not None else None


class CallOptions(BaseModel):
    """How long a call may take and how often it is tried; see the module's docstring."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, arbitrary_types_allowed=True, hide_input_in_errors=True
    )

    # Seconds for each phase of a request, or an httpx.Timeout per phase; see the module's docstring.
    timeout: Annotated[float | httpx.Timeout, PlainValidator(_timeout)] = DEFAULT_TIMEOUT
    # Seconds to connect; None: the httpx.Timeout's own, or for plain seconds the smaller of them and 10 s.
    connect_timeout: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    max_retries: int = Field(default=2, ge=0, le=10)
    # Seconds a whole call may take, retries and pauses included; None: twice the longest phase timeout.
    deadline: float | None = Field(default=None, gt=0, allow_inf_nan=False)

    def call_options(self) -> CallOptions:
        """Just the call options (of settings, say), as `CallOptions`."""
        return CallOptions.model_validate({name: getattr(self, name) for name in CallOptions.model_fields})

    def with_changes(self, changes: dict[str, Any]) -> CallOptions:
        """These options with `changes`, checked (an unknown or bad one raises, naming it)."""
        current = {name: getattr(self, name) for name in CallOptions.model_fields}
        return CallOptions.model_validate({**current, **changes})

    def call_deadline(self) -> float | None:
        """Seconds a whole call may take: `deadline`, or twice its longest phase timeout; None (no limit)
        when reading the answer has no limit (`httpx.Timeout(..., read=None)` asks to wait for it)."""
        if self.deadline is not None:
            return self.deadline
        phases = self.http_timeout().as_dict()
        if phases["read"] is None:
            return None
        return DEADLINE_PER_TIMEOUT * max(seconds for seconds in phases.values() if seconds is not None)

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


class ClientSettings(CallOptions):
    """Connection settings; authenticate with `token`, or with `client_id` and `client_secret`.

    A static `token` is used as it is when given, even if client credentials are set too.
    """

    base_url: str
    token: Token = None
    client_id: str | None = None
    client_secret: Secret = None
    oauth_client_id: str = DEFAULT_OAUTH_CLIENT_ID
    oauth_client_secret: Secret = None
    # A CA bundle is public, but a PEM text would swamp the repr.
    ca_cert: str | None = Field(default=None, repr=False)
    verify: bool = True

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        try:
            url = httpx.URL(value.strip())
        except httpx.InvalidURL as error:
            # httpx's reason may quote part of the URL, and a URL may hold a password.
            reason = "" if "@" in value else f" ({error})"
            raise ValueError(f"is not a valid URL{reason}") from None
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

    def tls_verify(self) -> ssl.SSLContext | bool:
        """What httpx's `verify` takes: a context trusting `ca_cert`, or plain True/False."""
        if self.verify and self.ca_cert:
            return tls_context(self.ca_cert)
        return self.verify
