"""Running API calls for the pages: failures shown as sentences (never a traceback), a wait that names
the server and can be stopped, and cached answers.

Which server and which client: ui/server.py (`get_client` stops the page with a message when there is
none). `api_call`, `perform`, `wait_for` and `retry_button` run calls and show their failures;
`server_status`, `session_access`, `count_connections`, `connections_per_day` and `history_span` answer
from caches keyed by the server in use, which Retry drops.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from typing import NoReturn, TypeVar

import pandas as pd
import streamlit as st
from streamlit.errors import StreamlitDuplicateElementKey

from ueba_api import coverage
from ueba_api.access import Access, check_access
from ueba_api.client import UebaClient
from ueba_api.errors import (
    ApiConnectionError,
    ApiResponseValidationError,
    RateLimitError,
    ServerError,
    UebaError,
)
from ueba_api.models import ServiceStatus, TimeRange
from ui import listing, server
from ui.feedback import notify
from ui.navigation import CONNECTION_PAGE
from ui.text import code, plain

# Session-state keys owned by this module.
_STATUS_FAILURE = "calls.status_failure"
_STOPPED = "calls.stopped_waiting"

COUNT_CACHE_SECONDS = 300
STATUS_CACHE_SECONDS = 15
ACCESS_CACHE_SECONDS = 300
# How long the sidebar badge shows a failed status before asking again: every click reruns the page, and
# an unreachable address would otherwise cost the connect timeout once more on each, for the badge alone.
STATUS_FAILURE_SECONDS = 30
# The badge's reads (status, access) are small: a server that has not answered them in this long is not
# answering, and the page's own read (which offers to stop waiting) should not wait behind them.
STATUS_READ_TIMEOUT = 5.0
# A call that has not answered after this long shows what it waits for, and a button to stop waiting.
QUIET_WAIT_SECONDS = 0.5
WAIT_TICK_SECONDS = 0.25
# Calls run here while the page waits: a page whose user stopped waiting leaves its call to end here.
_WAITS = ThreadPoolExecutor(max_workers=8, thread_name_prefix="ueba-wait")

T = TypeVar("T")


def forget_answers() -> None:
    """Drop cached API answers (and a remembered failure or stopped wait), so the next run asks again."""
    server.forget_failure()
    st.session_state.pop(_STATUS_FAILURE, None)
    st.session_state.pop(_STOPPED, None)
    _cached_status.clear()
    _cached_count.clear()
    _counted.clear()
    _cached_access.clear()


def forget_all_answers() -> None:
    """Every cached answer dropped, the shared list of datasets included: the next run shows what the
    server holds now (what other clients changed, the connections an import added)."""
    forget_answers()
    listing.forget_listing()


# The client


def get_client() -> UebaClient:
    """The client for the server this session talks to; stops the page with a message if there is none."""
    try:
        return server.client()
    except server.SettingsProblem as problem:
        settings_problem(problem)


def settings_problem(problem: server.SettingsProblem) -> NoReturn:
    st.error(plain(str(problem)), icon=":material/settings_alert:")
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


# Failures that may pass by themselves: a gateway's 5xx page, a 429, an answer garbled on its way.
_PASSING_FAILURES = (ServerError, RateLimitError, ApiResponseValidationError)


def show_error(error: UebaError, what: str = "reach the server") -> None:
    """The error's sentence, headed by what failed where that helps, and a Retry button where a retry may
    fare better. A call that may have been carried out all the same (a create whose answer was lost)
    drops the shared list of datasets, so the next run lists what the server now holds."""
    if error.may_have_acted:
        listing.forget_listing()
    if isinstance(error, StoppedWaiting):
        st.warning(plain(str(error)), icon=":material/stop_circle:")
        retry_button(what)
    elif isinstance(error, ApiConnectionError) and error.may_have_acted:
        st.error(plain(f"Could not tell whether the server managed to {what}: its answer never arrived in "
                       f"full. {error}"), icon=":material/cloud_off:")
        st.caption("It may have been done: Retry shows what the server now holds; look there before doing "
                   "it again.")
        retry_button(what)
    elif isinstance(error, ApiConnectionError):
        st.error(plain(f"Cannot reach the server, so could not {what}. {error}"), icon=":material/cloud_off:")
        st.caption("Check that the server is running and that its address is right, then retry.")
        retry_button(what)
    else:
        st.error(plain(str(error)), icon=":material/error:")
        if isinstance(error, _PASSING_FAILURES):
            retry_button(what)


def perform(what: str, action: Callable[[], object], done: str) -> bool:
    """One API action: on success, `done` is shown on the next run (see `notify`); on failure, why."""
    with api_call(what) as outcome:
        action()
    if outcome.ok:
        notify(done)
    return outcome.ok


class StoppedWaiting(UebaError):
    """The user stopped waiting for an answer (the call itself ends in the background)."""


def wait_for(what: str, call: Callable[[], T], client: UebaClient) -> T:
    """`call()`, run while the page says what it waits for, with a button to stop waiting.

    `call` runs in a worker thread: it must make API calls only (read session state before, not in it).

    A quick answer draws nothing. A slow one shows a spinner naming the server and a "Stop waiting"
    button: the call runs in a worker thread while this script thread wakes every `WAIT_TICK_SECONDS` to
    redraw the elapsed time, which is where Streamlit lets a click interrupt the run. The click's rerun
    then raises `StoppedWaiting` here until Retry, so the page shows a sentence and stays usable.
    """
    stopped = st.session_state.setdefault(_STOPPED, set())
    if what in stopped:
        raise StoppedWaiting(f"Stopped waiting for {client.base_url} to {what}.")
    future = _WAITS.submit(call)
    started = time.monotonic()
    with suppress(TimeoutError):
        return future.result(timeout=QUIET_WAIT_SECONDS)
    waiting = st.empty()
    with waiting.container():
        with st.container(horizontal=True, vertical_alignment="center"):
            clock = st.empty()
            st.button("Stop waiting", key=f"stop:{what}", icon=":material/stop_circle:",
                      on_click=stopped.add, args=(what,))
        while not future.done():
            clock.markdown(f":material/hourglass_top: Waiting for {code(client.base_url)} to {what}… "
                           f"{time.monotonic() - started:.0f} s")
            with suppress(TimeoutError):
                future.result(timeout=WAIT_TICK_SECONDS)
    waiting.empty()
    return future.result()


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


@st.cache_data(ttl=ACCESS_CACHE_SECONDS, show_spinner=False)
def _cached_access(settings_fingerprint: str, _client: UebaClient) -> Access:
    return check_access(_client)


def server_status(client: UebaClient) -> tuple[ServiceStatus, Access]:
    """`/status` and what this session's credentials may do (`check_access`), cached; a failure is raised
    again from memory for `STATUS_FAILURE_SECONDS` (or until Retry), so a server that does not answer
    costs its timeout once rather than on every rerun."""
    key = server.settings_key()
    remembered = st.session_state.get(_STATUS_FAILURE)
    if remembered and remembered.settings_fingerprint == key and time.monotonic() < remembered.until:
        raise remembered.error
    quick = client.with_options(timeout=STATUS_READ_TIMEOUT)
    try:
        return _cached_status(key, quick), _cached_access(key, quick)
    except UebaError as error:
        st.session_state[_STATUS_FAILURE] = _RememberedFailure(key, time.monotonic() + STATUS_FAILURE_SECONDS,
                                                               error)
        raise


def can_manage(client: UebaClient) -> bool:
    """Whether this session may change datasets; True when that is not known (the server then says no)."""
    try:
        _, access = server_status(client)
    except UebaError:
        return True
    return access.can_manage is not False


VIEW_ONLY_HELP = "These credentials may only view (no ueba-manage permission)."


@st.cache_data(ttl=COUNT_CACHE_SECONDS, show_spinner=False)
def _cached_count(settings_fingerprint: str, time_range_json: str, _client: UebaClient) -> int:
    return _client.count_connections(TimeRange.model_validate_json(time_range_json))


def count_connections(client: UebaClient, time_range: TimeRange) -> int:
    """`query-connection-count`, cached per server and time range."""
    key, time_range_json = server.settings_key(), time_range.model_dump_json()
    count = _cached_count(key, time_range_json, client)
    _counted(key)[time_range_json] = (count, time.monotonic())
    return count


@st.cache_resource(show_spinner=False, max_entries=server.MAX_CLIENTS)
def _counted(settings_fingerprint: str) -> dict[str, tuple[int, float]]:
    """The counts `count_connections` got per time range, and when: what `counted_already` reads. The
    data cache cannot be asked whether it holds an answer without computing it when it does not."""
    return {}


def counted_already(time_ranges: Iterable[TimeRange]) -> list[int | None]:
    """Each time range's count if it was counted in the last `COUNT_CACHE_SECONDS` (by any session on this
    server), else None: asks the server nothing, for lists that show counts only where known. Takes them
    all at once: the server's key and its cache, looked up per range, cost 0.2 ms each (1,000 datasets)."""
    counted, now = _counted(server.settings_key()), time.monotonic()
    known = (counted.get(time_range.model_dump_json()) for time_range in time_ranges)
    return [count[0] if count and now - count[1] <= COUNT_CACHE_SECONDS else None for count in known]


@st.cache_resource(show_spinner=False, max_entries=server.MAX_CLIENTS)
def _past_day_counts(settings_fingerprint: str) -> dict[str, int]:
    """The coverage timeline's counts of buckets that ended before today, per server, kept for the process:
    they no longer change. A dict is safe to share between the timeline's counting threads."""
    return {}


def connections_per_day(client: UebaClient, start: datetime, end: datetime) -> pd.DataFrame:
    """`coverage.connections_per_day`, days before today asked once per server."""
    return coverage.connections_per_day(client, start, end, _past_day_counts(server.settings_key()))


def known_count(client: UebaClient, time_range: TimeRange) -> int | None:
    """`count_connections` where the server answers, None where it does not (a hint, not worth an error)."""
    try:
        return count_connections(client, time_range)
    except UebaError:
        return None


@dataclass(frozen=True)
class CachedCounter:
    """Counts through `count_connections` above (the script thread only)."""

    client: UebaClient

    def count_connections(self, time_range: TimeRange | None = None) -> int:
        return count_connections(self.client, time_range or TimeRange())


def history_span(client: UebaClient) -> tuple[datetime, datetime] | None:
    """`coverage.history_span`: the whole days holding connections, found with (cached) counts."""
    return coverage.history_span(CachedCounter(client))
