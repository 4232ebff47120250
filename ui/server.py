"""Which server this session talks to, the cached client for it, and the embedded reference server.

Where the settings come from; first match wins:
1. the Connection page (this browser session only): a PrivX, or "the embedded server";
2. the `[privx]` section of `.streamlit/secrets.toml`;
3. the `PRIVX_API_*` environment variables (when `PRIVX_API_BASE_URL` is set);
4. otherwise the embedded reference server, started on first use and kept for the process, and started
   again on the same data should its process end. It keeps its data in `$UEBA_NOTEBOOK_DATA_DIR`
   (default `$XDG_DATA_HOME/ueba-notebook/server`); `UEBA_NOTEBOOK_CONNECTIONS`, `_EPOCHS` and `_SEED`
   size its generated history and its trainings.

The app's clients wait less than a notebook's (`app_options`, applied with `UebaClient.with_options` to
the one cached client per settings): someone is waiting on every call.

Public surface: `current_target`, `use_settings`, `use_embedded_server`, `client`, `cached_client`,
`settings_key`,
`temporary_client` (for settings being tried), `settings_from`, `forget_failure`; and, for tests and
process exit, `close_clients`, `stop_embedded_server`. This module owns its session-state keys.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import streamlit as st
from pydantic import SecretStr, ValidationError
from streamlit.errors import StreamlitSecretNotFoundError

from ueba_api.client import UebaClient
from ueba_api.settings import ClientSettings, reveal
from ui.feedback import notify

if TYPE_CHECKING:
    from ueba_server.launch import RunningServer

SECRETS_SECTION = "privx"
EMBEDDED = "embedded"
DATA_DIR_VARIABLE = "UEBA_NOTEBOOK_DATA_DIR"
# Environment variable -> start_server keyword, for sizing the embedded server's demo data.
EMBEDDED_SIZE_VARIABLES = {
    "UEBA_NOTEBOOK_CONNECTIONS": "connections",
    "UEBA_NOTEBOOK_EPOCHS": "epochs",
    "UEBA_NOTEBOOK_SEED": "seed",
}

# Client settings for the app unless the user's own settings name them: a person waits on each call, so
# an address that drops packets fails after one attempt of 5 s instead of the library's 3 x 10 s, and a
# server that accepts but never answers after one wait of INTERACTIVE_READ_TIMEOUT, not 2 x 30 s. No
# second try: the page offers Retry, and a read timeout tried twice is twice the wait for the same answer.
INTERACTIVE_CONNECT_TIMEOUT = 5.0
INTERACTIVE_MAX_RETRIES = 0
INTERACTIVE_READ_TIMEOUT = 15.0
# Clients kept at once (one per settings in use: the embedded server, a PrivX or two being tried).
# An evicted client is closed; a session still on those settings gets a new one on its next run.
MAX_CLIENTS = 8

# Session-state keys owned by this module.
_CHOSEN_SETTINGS = "server.chosen_settings"
_EMBEDDED_FAILURE = "server.embedded_failure"


class SettingsProblem(Exception):
    """Settings that cannot make a client; the message names the field and where it came from."""


@dataclass(frozen=True)
class Target:
    """The server the app talks to."""

    kind: str
    """"embedded" or "privx"."""
    source: str
    """Where the settings came from, as a sentence: "From secrets.toml.", ..."""
    settings: ClientSettings | None = None
    """None for the embedded server, whose settings exist once it runs."""

    @property
    def label(self) -> str:
        if self.kind == EMBEDDED:
            return "Embedded reference server"
        return f"PrivX at {self.settings.base_url}" if self.settings else "PrivX"


# Settings from secrets, the environment or a form


def describe_validation_error(error: ValidationError, labels: Mapping[str, str] | None = None) -> str:
    """Pydantic's errors as one sentence per field, e.g. `Base URL: must be an http(s) URL ...`.

    `labels` maps field names to what the user sees, in the field of each error and in the words of a
    message about several fields ("give either token, or client_id and client_secret"); the value given
    is never repeated (it may be a secret).
    """
    labels = labels or {}
    sentences = []
    for problem in error.errors():
        field = ".".join(str(part) for part in problem["loc"])
        message = problem["msg"].removeprefix("Value error, ")
        if problem["type"] == "extra_forbidden":
            message = "is not a setting this app knows"
        # Longest names first, so "oauth_client_id" is not read as "oauth_" + "client_id".
        for name in sorted(labels, key=len, reverse=True):
            message = re.sub(rf"\b{re.escape(name)}\b", labels[name], message)
        name = labels.get(field, field)
        sentences.append(f"{name}: {message}" if name else message[:1].upper() + message[1:])
    return "; ".join(sentences)


def settings_from(values: Mapping[str, Any], where: str, labels: Mapping[str, str] | None = None
                  ) -> ClientSettings:
    """ClientSettings from a mapping; empty values count as unset; problems raise SettingsProblem."""
    given = {name: value for name, value in values.items() if value not in (None, "")}
    try:
        return ClientSettings.model_validate(given)
    except ValidationError as error:
        raise SettingsProblem(
            f"The settings in {where} are not usable. {describe_validation_error(error, labels)}."
        ) from None


def _secrets_section() -> dict[str, Any]:
    """The `[privx]` section of secrets.toml; empty when there is no secrets file at all."""
    try:
        section = st.secrets.get(SECRETS_SECTION)
    except (StreamlitSecretNotFoundError, FileNotFoundError):
        return {}
    return dict(section) if section else {}


def _configured_target() -> Target:
    """What secrets.toml or the environment configure, or the embedded server."""
    section = _secrets_section()
    if section:
        where = f"secrets.toml [{SECRETS_SECTION}]"
        return Target("privx", "From secrets.toml.", settings_from(section, where))
    if os.environ.get("PRIVX_API_BASE_URL", "").strip():
        try:
            return Target("privx", "From the PRIVX_API_* variables.", ClientSettings.from_env())
        except ValidationError as error:
            raise SettingsProblem(
                f"The PRIVX_API_* environment variables are not usable. {describe_validation_error(error)}."
            ) from None
    return Target(EMBEDDED, "Started by this app: no PrivX is configured.")


# Which server this session uses


def current_target() -> Target:
    """The server this session talks to (see the module docstring); SettingsProblem if unusable."""
    chosen = st.session_state.get(_CHOSEN_SETTINGS)
    if chosen == EMBEDDED:
        return Target(EMBEDDED, "Chosen on the Connection page.")
    if isinstance(chosen, ClientSettings):
        return Target("privx", "Chosen on the Connection page.", chosen)
    return _configured_target()


def use_settings(settings: ClientSettings) -> None:
    """Switch this session to a PrivX (from the Connection page)."""
    st.session_state[_CHOSEN_SETTINGS] = settings


def use_embedded_server() -> None:
    st.session_state[_CHOSEN_SETTINGS] = EMBEDDED
    forget_failure()


def forget_failure() -> None:
    """Forget a failed start of the embedded server, so the next run tries again (Retry)."""
    st.session_state.pop(_EMBEDDED_FAILURE, None)


# The client


def interactive_options(settings: ClientSettings) -> dict[str, Any]:
    """What the app changes in `settings`: where they leave `connect_timeout` or `max_retries` unset,
    `INTERACTIVE_CONNECT_TIMEOUT` (or the settings' own connect limit, if shorter) and
    `INTERACTIVE_MAX_RETRIES`."""
    given = settings.model_fields_set
    update: dict[str, Any] = {}
    if "connect_timeout" not in given:
        own = settings.http_timeout().connect  # None: no limit
        update["connect_timeout"] = min(INTERACTIVE_CONNECT_TIMEOUT, own or INTERACTIVE_CONNECT_TIMEOUT)
    if "max_retries" not in given:
        update["max_retries"] = INTERACTIVE_MAX_RETRIES
    return update


def app_options(settings: ClientSettings) -> dict[str, Any]:
    """`interactive_options`, and a read timeout of `INTERACTIVE_READ_TIMEOUT` where the settings set no
    `timeout`: what `UebaClient.with_options` gets for the app's calls."""
    options = interactive_options(settings)
    if "timeout" not in settings.model_fields_set:
        options["timeout"] = INTERACTIVE_READ_TIMEOUT
    return options


def app_settings(settings: ClientSettings) -> ClientSettings:
    """The settings as the app uses them (`app_options`), for a client of its own."""
    return settings.model_copy(update=app_options(settings))


def _fingerprint(settings: ClientSettings) -> str:
    """A cache key for settings, secrets included; a hash, so no secret lands in a cache's key."""
    fields = {name: reveal(value) if isinstance(value, SecretStr) else value for name, value in settings}
    return hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()


@st.cache_resource(show_spinner=False, max_entries=MAX_CLIENTS, on_release=lambda client: client.close())
def _client_for(settings_fingerprint: str, _settings: ClientSettings) -> UebaClient:
    return UebaClient.from_settings(_settings)


def _active_settings() -> ClientSettings:
    target = current_target()
    return target.settings if target.settings is not None else _embedded_settings()


def settings_key() -> str:
    """Names the server and credentials this session uses, for keying cached answers (a hash: no secret)."""
    return _fingerprint(_active_settings())


def client() -> UebaClient:
    """The client for the server this session talks to; SettingsProblem if there is none."""
    return cached_client(_active_settings())


def cached_client(settings: ClientSettings) -> UebaClient:
    """The process's client for these settings, made on first use, as a `with_options` copy with the app's
    shorter limits (`app_options`): it shares the cached client's connection pool and login. At most
    `MAX_CLIENTS` are kept, the least recently used closed."""
    return _client_for(_fingerprint(settings), settings).with_options(**app_options(settings))


def temporary_client(settings: ClientSettings) -> UebaClient:
    """A client of its own for settings being tried, with the app's timeouts (close it: use a `with`)."""
    return UebaClient.from_settings(app_settings(settings))


def close_clients() -> None:
    """Close every cached client (the next call makes a new one)."""
    _client_for.clear()


# The embedded reference server


def embedded_data_dir() -> Path:
    configured = os.environ.get(DATA_DIR_VARIABLE, "").strip()
    if configured:
        return Path(configured).expanduser()
    data_home = os.environ.get("XDG_DATA_HOME", "").strip() or Path.home() / ".local" / "share"
    return Path(data_home) / "ueba-notebook" / "server"


def embedded_size() -> dict[str, int]:
    """start_server keywords from UEBA_NOTEBOOK_CONNECTIONS / _EPOCHS / _SEED, where set."""
    size = {}
    for variable, keyword in EMBEDDED_SIZE_VARIABLES.items():
        text = os.environ.get(variable, "").strip()
        if not text:
            continue
        try:
            size[keyword] = int(text)
        except ValueError:
            raise SettingsProblem(f"{variable} must be a whole number, not {text!r}.") from None
    return size


def _stop_server(server: RunningServer) -> None:
    server.stop()


@st.cache_resource(show_spinner="Starting the embedded UEBA server (first start trains a sample model)…",
                   on_release=_stop_server)
def _embedded_server(data_dir: str, size_json: str) -> RunningServer:
    from ueba_server.launch import start_server  # the server's dependencies load only when used

    Path(data_dir).mkdir(parents=True, exist_ok=True)
    return start_server(data_dir, demo=True, **json.loads(size_json))


# Held while a dead embedded server is replaced, so two sessions that find it dead start one new server.
_RESTART_LOCK = threading.Lock()


def _running_embedded_server(data_dir: str, size_json: str) -> RunningServer:
    """The cached embedded server; if its process has ended, a new one on the same data dir, with a notice.

    A cached server whose process died would otherwise stay cached, refusing connections, until the app
    restarts; Retry clears only cached answers.
    """
    server = _embedded_server(data_dir, size_json)
    if server.process.poll() is None:
        return server
    with _RESTART_LOCK:
        current = _embedded_server(data_dir, size_json)
        if current is server:  # nobody replaced it meanwhile
            exit_code = server.process.returncode
            _client_for.clear(_fingerprint(_server_settings(server)), None)
            _embedded_server.clear(data_dir, size_json)
            current = _embedded_server(data_dir, size_json)
            notify(f"The embedded server had stopped (exit code {exit_code}); it was started again, with the "
                   "same data.", icon=":material/restart_alt:")
    return current


def _server_settings(server: RunningServer) -> ClientSettings:
    return ClientSettings(
        base_url=server.base_url,
        client_id=server.client_id,
        client_secret=server.client_secret,
        oauth_client_id=server.oauth_client_id,
        oauth_client_secret=server.oauth_client_secret,
        ca_cert=str(server.ca_cert) if server.ca_cert else None,
    )


def _embedded_settings() -> ClientSettings:
    """Start the embedded server if it is not running yet, and say how to reach it.

    A failed start is remembered for the session until Retry, so one page run does not wait for it twice.
    """
    failure = st.session_state.get(_EMBEDDED_FAILURE)
    if failure:
        raise SettingsProblem(failure)
    size = embedded_size()
    try:
        server = _running_embedded_server(str(embedded_data_dir()), json.dumps(size, sort_keys=True))
    except (OSError, RuntimeError, TimeoutError) as error:
        st.session_state[_EMBEDDED_FAILURE] = f"The embedded server did not start: {error}"
        raise SettingsProblem(st.session_state[_EMBEDDED_FAILURE]) from None
    return _server_settings(server)


def stop_embedded_server() -> None:
    """Stop the embedded server (the next run that needs it starts it again, on the same data)."""
    _embedded_server.clear()


def _release_at_exit() -> None:
    """Streamlit releases cached resources when a cache is cleared, not when the process exits.

    Clients close first: an open keep-alive connection would hold up the embedded server's graceful
    shutdown. (A server left running would still end by itself once this process is gone.)
    """
    close_clients()
    stop_embedded_server()


# Once per process, however many clients and servers come and go.
atexit.register(_release_at_exit)
