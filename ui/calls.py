"""The client the pages use, API errors shown as sentences (never a traceback), and cached answers.

`get_client` gives the client for the server this session talks to (ui/targets.py); `api_call`,
`perform` and `retry_button` run calls and show their failures; `server_status`, `count_connections`,
`connections_per_day` and `history_span` answer from caches that switching server or Retry drops.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from typing import NoReturn

import pandas as pd
import streamlit as st
from streamlit.errors import StreamlitDuplicateElementKey

from ueba_api import coverage
from ueba_api.client import UebaClient
from ueba_api.errors import ApiConnectionError, UebaError
from ueba_api.models import ServiceStatus, TimeRange
from ueba_api.settings import ClientSettings
from ui.client_cache import client_for, fingerprint
from ui.embedded import _EMBEDDED_FAILURE, embedded_settings
from ui.feedback import notify
from ui.navigation import CONNECTION_PAGE
from ui.targets import _CHOSEN_SETTINGS, EMBEDDED, SettingsProblem, current_target

# Session-state key owned by this module.
_STATUS_FAILURE = "session.status_failure"

COUNT_CACHE_SECONDS = 300
STATUS_CACHE_SECONDS = 15
# How long the sidebar badge shows a failed status before asking again: every click reruns the page, and
# an unreachable address would otherwise cost the connect timeout once more on each, for the badge alone.
STATUS_FAILURE_SECONDS = 30


# Switching server


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


# The client


def active_settings() -> ClientSettings:
    target = current_target()
    return target.settings if target.settings is not None else embedded_settings()


def get_client_or_raise() -> UebaClient:
    """The client for the server this session talks to; SettingsProblem if there is none."""
    return client_for(active_settings())


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
