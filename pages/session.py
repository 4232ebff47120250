"""Streamlit glue shared by the pages: which server the app talks to, the cached client, error display.

Where the settings come from, first match wins:
1. the Connection page (this browser session only): a PrivX, or "the embedded server";
2. the `[privx]` section of `.streamlit/secrets.toml`;
3. the `PRIVX_API_*` environment variables (when `PRIVX_API_BASE_URL` is set);
4. otherwise the embedded reference server, started on first use and kept for the process.

The embedded server keeps its data in `$UEBA_NOTEBOOK_DATA_DIR` (default
`$XDG_DATA_HOME/ueba-notebook/server`, i.e. `~/.local/share/ueba-notebook/server`);
`UEBA_NOTEBOOK_CONNECTIONS`, `UEBA_NOTEBOOK_EPOCHS` and `UEBA_NOTEBOOK_SEED` size its generated
connection history and its trainings (small values make a quick demo or test). Should its process end
(a crash, a kill), the next run starts it again on the same data.

The app's clients give up on connecting sooner than a notebook's (`interactive`), as someone is waiting
on every call; settings that name a `connect_timeout` or `max_retries` keep theirs.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import pandas as pd
import streamlit as st
from pydantic import SecretStr, ValidationError
from streamlit.errors import StreamlitDuplicateElementKey, StreamlitSecretNotFoundError
from streamlit.runtime.pages_manager import PagesManager

from ueba_api import coverage, review
from ueba_api.client import UebaClient
from ueba_api.errors import ApiConnectionError, UebaError
from ueba_api.models import Dataset, ServiceStatus, TimeRange, TrainingStatus
from ueba_api.settings import ClientSettings, reveal

if TYPE_CHECKING:
    from ueba_api.server.launch import RunningServer

DATASETS_PAGE = "pages/datasets.py"
EDITOR_PAGE = "pages/dataset_editor.py"
TRAINING_PAGE = "pages/training.py"
CONNECTION_PAGE = "pages/connection.py"

DATASET_QUERY_PARAM = "dataset"
SECRETS_SECTION = "privx"
DATA_DIR_VARIABLE = "UEBA_NOTEBOOK_DATA_DIR"
# Environment variable -> start_server keyword, for sizing the embedded server's demo data.
EMBEDDED_SIZE_VARIABLES = {
    "UEBA_NOTEBOOK_CONNECTIONS": "connections",
    "UEBA_NOTEBOOK_EPOCHS": "epochs",
    "UEBA_NOTEBOOK_SEED": "seed",
}

# Session-state keys owned by this module.
_CHOSEN_SETTINGS = "session.chosen_settings"
_NOTICES = "session.notices"
_EMBEDDED_FAILURE = "session.embedded_failure"
_STATUS_FAILURE = "session.status_failure"
_CURRENT_PAGE = "session.current_page"
# dataset id -> the 1-based number of the run this session saw TRAINING (or started), to announce its end.
_WATCHED_RUNS = "session.watched_runs"
EMBEDDED = "embedded"

COUNT_CACHE_SECONDS = 300
STATUS_CACHE_SECONDS = 15
# How long the sidebar badge shows a failed status before asking again: every click reruns the page, and
# an unreachable address would otherwise cost the connect timeout once more on each, for the badge alone.
STATUS_FAILURE_SECONDS = 30
# Client settings for the app unless the user's own settings name them: a person waits on each call, so
# an address that drops packets fails after 2 x 5 s instead of the library's 3 x 10 s.
INTERACTIVE_CONNECT_TIMEOUT = 5.0
INTERACTIVE_MAX_RETRIES = 1
# Clients kept at once (one per settings in use: the embedded server, a PrivX or two being tried).
# An evicted client is closed; a session still on those settings gets a new one on its next run.
MAX_CLIENTS = 8


# Streamlit takes a `pages/` folder beside app.py for a legacy multipage app until st.navigation first
# runs in the process. Were the process's very first run a deep link (/datasets, say), Streamlit would
# run that page file alone, without app.py, and keep doing so: a sidebar listing session.py and
# widgets.py as pages. Every page imports this module, so it is the one place to say that st.navigation
# is in use and to run again through app.py; the page stays the same, as app.py gives each page its
# file's name as url_path.
if PagesManager.uses_pages_directory:
    PagesManager.uses_pages_directory = False
    st.rerun()


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
    """None for the embedded server, whose settings exist once it runs (`active_settings`)."""

    @property
    def label(self) -> str:
        if self.kind == EMBEDDED:
            return "Embedded reference server"
        return f"PrivX at {self.settings.base_url}" if self.settings else "PrivX"


# Settings


def describe_validation_error(error: ValidationError, labels: Mapping[str, str] | None = None) -> str:
    """Pydantic's errors as one sentence per field, e.g. `Base URL: must be an http(s) URL ...`.

    `labels` maps field names to what the user sees; the value given is never repeated (it may be a secret).
    """
    labels = labels or {}
    sentences = []
    for problem in error.errors():
        field = ".".join(str(part) for part in problem["loc"])
        message = problem["msg"].removeprefix("Value error, ")
        if problem["type"] == "extra_forbidden":
            message = "is not a setting this app knows"
        name = labels.get(field, field)
        sentences.append(f"{name}: {message}" if name else message)
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


def secrets_section() -> dict[str, Any]:
    """The `[privx]` section of secrets.toml; empty when there is no secrets file at all."""
    try:
        section = st.secrets.get(SECRETS_SECTION)
    except (StreamlitSecretNotFoundError, FileNotFoundError):
        return {}
    return dict(section) if section else {}


def configured_target() -> Target:
    """What secrets.toml or the environment configure, or the embedded server."""
    section = secrets_section()
    if section:
        return Target("privx", "From secrets.toml.",
                      settings_from(section, f"secrets.toml [{SECRETS_SECTION}]"))
    if os.environ.get("PRIVX_API_BASE_URL", "").strip():
        try:
            return Target("privx", "From the PRIVX_API_* variables.", ClientSettings.from_env())
        except ValidationError as error:
            raise SettingsProblem(
                f"The PRIVX_API_* environment variables are not usable. {describe_validation_error(error)}."
            ) from None
    return Target(EMBEDDED, "Started by this app: no PrivX is configured.")


def current_target() -> Target:
    """The server this session talks to (see the module docstring)."""
    chosen = st.session_state.get(_CHOSEN_SETTINGS)
    if chosen == EMBEDDED:
        return Target(EMBEDDED, "Chosen on the Connection page.")
    if isinstance(chosen, ClientSettings):
        return Target("privx", "Chosen on the Connection page.", chosen)
    return configured_target()


def use_settings(settings: ClientSettings) -> None:
    """Switch this session to a PrivX (from the Connection page)."""
    st.session_state[_CHOSEN_SETTINGS] = settings
    forget_answers()


def use_embedded_server() -> None:
    st.session_state[_CHOSEN_SETTINGS] = EMBEDDED
    forget_answers()


def forget_answers() -> None:
    """Drop cached API answers (and a remembered failed start or status), so the next run asks again."""
    st.session_state.pop(_EMBEDDED_FAILURE, None)
    st.session_state.pop(_STATUS_FAILURE, None)
    _cached_status.clear()
    _cached_count.clear()


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
    from ueba_api.server.launch import start_server  # the server's dependencies load only when used

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
            _client_for.clear(fingerprint(interactive(_server_settings(server))), None)
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


def embedded_settings() -> ClientSettings:
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


# The client


def active_settings() -> ClientSettings:
    target = current_target()
    settings = target.settings if target.settings is not None else embedded_settings()
    return interactive(settings)


def interactive(settings: ClientSettings) -> ClientSettings:
    """The settings as the app uses them: where they leave `connect_timeout` or `max_retries` unset,
    `INTERACTIVE_CONNECT_TIMEOUT` (or the settings' own connect limit, if shorter) and
    `INTERACTIVE_MAX_RETRIES`."""
    given = settings.model_fields_set
    update: dict[str, Any] = {}
    if "connect_timeout" not in given:
        own = settings.http_timeout().connect  # None: no limit
        update["connect_timeout"] = min(INTERACTIVE_CONNECT_TIMEOUT, own or INTERACTIVE_CONNECT_TIMEOUT)
    if "max_retries" not in given:
        update["max_retries"] = INTERACTIVE_MAX_RETRIES
    return settings.model_copy(update=update)


def fingerprint(settings: ClientSettings) -> str:
    """A cache key for settings, secrets included; a hash, so no secret lands in a cache's key."""
    fields = {name: reveal(value) if isinstance(value, SecretStr) else value for name, value in settings}
    return hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()


@st.cache_resource(show_spinner=False, max_entries=MAX_CLIENTS, on_release=lambda client: client.close())
def _client_for(settings_fingerprint: str, _settings: ClientSettings) -> UebaClient:
    return UebaClient.from_settings(_settings)


def _release_at_exit() -> None:
    """Streamlit releases cached resources when a cache is cleared, not when the process exits.

    Clients close first: an open keep-alive connection would hold up the embedded server's graceful
    shutdown. (A server left running would still end by itself once this process is gone.)
    """
    _client_for.clear()
    _embedded_server.clear()


# Once per process, however many clients and servers come and go.
atexit.register(_release_at_exit)


def get_client_or_raise() -> UebaClient:
    """The client for the server this session talks to; SettingsProblem if there is none."""
    settings = active_settings()
    return _client_for(fingerprint(settings), settings)


def get_client() -> UebaClient:
    """The client for the server this session talks to; stops the page with a message if there is none."""
    try:
        return get_client_or_raise()
    except SettingsProblem as problem:
        settings_problem(problem)


def settings_problem(problem: SettingsProblem) -> NoReturn:
    st.error(str(problem), icon=":material/settings_alert:")
    st.page_link(CONNECTION_PAGE, label="Open the Connection page", icon=":material/lan:")
    retry_button("settings")
    st.stop()


# Errors


@dataclass
class CallOutcome:
    """What `api_call` saw: `ok` unless a UebaError was raised (and shown) inside the block."""

    error: UebaError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@contextmanager
def api_call(what: str) -> Iterator[CallOutcome]:
    """Run API calls; a failure is shown as the error's own sentence, never a traceback.

    `what` says what was being done ("load the datasets"): it heads an unreachable-server message and
    keys its Retry button. The block ends at the first error; check `outcome.ok` after it.
    """
    outcome = CallOutcome()
    try:
        yield outcome
    except UebaError as error:
        outcome.error = error
        show_error(error, what)


def show_error(error: UebaError, what: str = "reach the server") -> None:
    if isinstance(error, ApiConnectionError):
        st.error(f"Cannot reach the server, so could not {what}. {error}", icon=":material/cloud_off:")
        st.caption("Check that the server is running and that its address is right, then retry.")
        retry_button(what)
    else:
        st.error(str(error), icon=":material/error:")


def perform(what: str, action: Callable[[], object], done: str) -> bool:
    """One API action: on success, `done` is shown on the next run (see `notify`); on failure, why."""
    with api_call(what) as outcome:
        action()
    if outcome.ok:
        notify(done)
    return outcome.ok


def retry_button(what: str) -> None:
    """A Retry button, keyed by what failed; a second failure of the same kind in one run needs none
    (any Retry reruns the whole page)."""
    with suppress(StreamlitDuplicateElementKey):
        st.button("Retry", key=f"retry:{what}", icon=":material/refresh:", on_click=forget_answers)


def notify(message: str, icon: str = ":material/check_circle:") -> None:
    """A message for the next run (it survives st.rerun and st.switch_page), shown by `show_notices`."""
    st.session_state.setdefault(_NOTICES, []).append((message, icon))


def show_notices() -> None:
    for message, icon in st.session_state.pop(_NOTICES, []):
        st.toast(message, icon=icon)


# Cached answers


@st.cache_data(ttl=STATUS_CACHE_SECONDS, show_spinner=False)
def _cached_status(settings_fingerprint: str, _client: UebaClient) -> ServiceStatus:
    return _client.get_status()


@dataclass(frozen=True)
class _RememberedFailure:
    settings_fingerprint: str
    until: float
    """`time.monotonic()` after which the status is asked again."""
    error: UebaError


def server_status(client: UebaClient) -> ServiceStatus:
    """`/status`, cached; a failure is raised again from memory for `STATUS_FAILURE_SECONDS` (or until
    Retry), so a server that does not answer costs its timeout once rather than on every rerun."""
    key = fingerprint(active_settings())
    remembered = st.session_state.get(_STATUS_FAILURE)
    if remembered and remembered.settings_fingerprint == key and time.monotonic() < remembered.until:
        raise remembered.error
    try:
        return _cached_status(key, client)
    except UebaError as error:
        st.session_state[_STATUS_FAILURE] = _RememberedFailure(key, time.monotonic() + STATUS_FAILURE_SECONDS,
                                                               error)
        raise


@st.cache_data(ttl=COUNT_CACHE_SECONDS, show_spinner=False)
def _cached_count(settings_fingerprint: str, time_range_json: str, _client: UebaClient) -> int:
    return _client.count_connections(TimeRange.model_validate_json(time_range_json))


def count_connections(client: UebaClient, time_range: TimeRange) -> int:
    """`query-connection-count`, cached per server and time range."""
    return _cached_count(fingerprint(active_settings()), time_range.model_dump_json(), client)


@dataclass(frozen=True)
class CachedCounter:
    """Counts through `count_connections` below, so a timeline only asks about days it has not seen."""

    client: UebaClient

    def count_connections(self, time_range: TimeRange | None = None) -> int:
        return count_connections(self.client, time_range or TimeRange())


def connections_per_day(client: UebaClient, start: datetime, end: datetime) -> pd.DataFrame:
    """`coverage.connections_per_day`, with each day's count cached."""
    return coverage.connections_per_day(CachedCounter(client), start, end)


def history_span(client: UebaClient) -> tuple[datetime, datetime] | None:
    """`coverage.history_span`: the whole days holding connections, found with (cached) counts."""
    return coverage.history_span(CachedCounter(client))


# The sidebar


STATE_COLORS = {"RUNNING": "green", "WARNING": "orange", "PENDING": "blue", "ERROR": "red"}


def server_badge() -> None:
    """Which server the app is on, and its health, in the sidebar (starting the embedded one if need be)."""
    with st.sidebar:
        try:
            target = current_target()
            st.caption("Server")
            st.markdown(f"**{target.label}**")
            st.caption(target.source)
            status = server_status(get_client_or_raise())
        except SettingsProblem as problem:
            st.badge("not available", icon=":material/settings_alert:", color="red", help=str(problem))
        except ApiConnectionError as error:
            st.badge("unreachable", icon=":material/cloud_off:", color="red", help=str(error))
        except UebaError as error:
            st.badge("error", icon=":material/error:", color="red", help=str(error))
        else:
            state = getattr(status.status, "value", status.status) or "unknown"
            version = f" · version {status.version}" if status.version else ""
            st.badge(f"{state}{version}", color=STATE_COLORS.get(state, "gray"), help=status.status_message)


# Following trainings


def watch_run(dataset_id: str, number: int) -> None:
    """Announce the end of run `number` (1-based) of a dataset, even if no page sees it training."""
    st.session_state.setdefault(_WATCHED_RUNS, {})[dataset_id] = number


def follow_trainings(datasets: Dataset | Iterable[Dataset], *, complete: bool = False) -> review.FollowUp:
    """`review.follow_training` on this session's watched runs: toasts each watched run that ended.

    The watch list is shared by the pages, so a run's end is announced once, on whichever page sees it.
    """
    follow = review.follow_training(st.session_state.get(_WATCHED_RUNS, {}), datasets, complete=complete)
    st.session_state[_WATCHED_RUNS] = follow.watched
    for run in follow.ended:
        failed = run.result.status == TrainingStatus.FAILURE
        st.toast(review.finished_message(run.label, run.result),
                 icon=":material/error:" if failed else ":material/check_circle:")
    return follow


# Navigation


def entered_page(page_key: str) -> bool:
    """Whether this run shows another page than the session's previous run (or is its first)."""
    previous = st.session_state.get(_CURRENT_PAGE)
    st.session_state[_CURRENT_PAGE] = page_key
    return previous != page_key


def dataset_id_from_query() -> str | None:
    """The `?dataset=<id>` of the current URL, or None."""
    value = st.query_params.get(DATASET_QUERY_PARAM, "").strip()
    return value or None


def open_dataset(dataset_id: str, page: str = EDITOR_PAGE) -> NoReturn:
    """Go to a page about one dataset: the editor, or the training review."""
    st.switch_page(page, query_params={DATASET_QUERY_PARAM: dataset_id})


def set_dataset_in_url(dataset_id: str) -> None:
    st.query_params[DATASET_QUERY_PARAM] = dataset_id
