"""An unreachable or hung server costs the user seconds, not minutes: the app's clients connect with a 5 s
timeout, wait INTERACTIVE_READ_TIMEOUT for an answer and try once (unless the settings say otherwise), and
the sidebar badge remembers a failed /status for a while instead of waiting for it again on every rerun.

Three stand-ins for a broken server, all real sockets: one that accepts each connection and closes it at
once (it counts them, so the attempts can be counted); one whose accept queue is full, so the kernel
drops new connection requests and a connect hangs until its timeout, as with an address that silently
drops packets; and one that accepts and never answers, as a hung server does.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
from streamlit.testing.v1 import AppTest

from tests.app.conftest import APP, unescaped
from ueba_api.client import API_PREFIX
from ueba_api.settings import ClientSettings
from ui import calls, server

# One attempt of INTERACTIVE_CONNECT_TIMEOUT, plus slack for a busy machine; the library's defaults (three
# attempts of 10 s) would take over 30 s.
INTERACTIVE_CALL_SECONDS = (server.INTERACTIVE_CONNECT_TIMEOUT, server.INTERACTIVE_CONNECT_TIMEOUT + 4)


class ClosingServer:
    """Accepts connections and closes each at once, answering nothing; counts them. With `hang`, keeps
    each connection open without ever answering, as a hung server does."""

    def __init__(self, hang: bool = False) -> None:
        self.hang = hang
        self._held: list[socket.socket] = []
        self._socket = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._socket.getsockname()[1]}"
        self.accepted = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self._socket.accept()
            except OSError:
                return  # closed
            self.accepted += 1
            if self.hang:
                self._held.append(connection)
            else:
                connection.close()

    def close(self) -> None:
        """Stops accepting and closes every held connection; a second call does nothing."""
        if self._socket.fileno() == -1:
            return
        self._socket.shutdown(socket.SHUT_RDWR)  # wakes the accept() waiting in the thread
        self._socket.close()
        self._thread.join(5)
        for connection in self._held:
            connection.close()


@pytest.fixture
def closing_server() -> Iterator[ClosingServer]:
    server = ClosingServer()
    yield server
    server.close()


@pytest.fixture
def full_backlog_url() -> Iterator[str]:
    """A listening port that never accepts, its queue filled: further connects hang until they time out."""
    listener = socket.create_server(("127.0.0.1", 0), backlog=0)
    address = listener.getsockname()
    fillers = []
    for _ in range(3):
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(address)
        fillers.append(filler)
    time.sleep(0.2)  # let the handshakes that can complete do so
    yield f"http://{address[0]}:{address[1]}"
    for filler in fillers:
        filler.close()
    listener.close()


def app_on(url: str, **settings: object) -> AppTest:
    app = AppTest.from_file(APP, default_timeout=120)
    app.secrets["privx"] = {"base_url": url, "token": "not-a-real-token", **settings}
    return app


def sidebar_badge(app: AppTest) -> str:
    return " ".join(markdown.value for markdown in app.sidebar.markdown)


def test_each_call_is_tried_once_and_the_badge_remembers_a_failure(closing_server: ClosingServer) -> None:
    app = app_on(closing_server.url)
    app.run()
    assert not app.exception
    assert "unreachable" in sidebar_badge(app)
    shown = unescaped(app.error[0].value)
    assert shown.startswith("Cannot reach the server, so could not load the datasets.")
    # The badge's /status and the page's list of datasets: one attempt each (max_retries 0).
    assert closing_server.accepted == 2

    app.run()  # any click reruns the page
    assert "unreachable" in sidebar_badge(app), "the badge still says so"
    assert closing_server.accepted == 2 + 1, "only the page asked again"

    app.button(key="retry:load the datasets").click().run()
    assert closing_server.accepted == 3 + 2, "Retry asks everything again, the badge's /status too"


@pytest.fixture
def hung_server() -> Iterator[ClosingServer]:
    server = ClosingServer(hang=True)
    yield server
    server.close()


def test_a_hung_server_costs_one_short_wait_and_the_page_stays_usable(
    hung_server: ClosingServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server that accepts and never answers: the badge's status waits STATUS_READ_TIMEOUT, the page's read
    INTERACTIVE_READ_TIMEOUT, once each (it was 2 x 30 s per call); the page says so in a sentence, and the
    next run remembers the badge's failure. Both waits are shortened here (the app reads them at each call):
    what is tested is one wait each, whatever their length (the next test checks which settings use them)."""
    monkeypatch.setattr(calls, "STATUS_READ_TIMEOUT", 1.0)
    monkeypatch.setattr(server, "INTERACTIVE_READ_TIMEOUT", 2.0)
    app = app_on(hung_server.url)
    started = time.monotonic()
    app.run()
    elapsed = time.monotonic() - started
    assert not app.exception
    read_timeout = server.INTERACTIVE_READ_TIMEOUT
    # The badge's /status, then the page's list of datasets: one wait each, no second try.
    assert hung_server.accepted == 2
    waits = calls.STATUS_READ_TIMEOUT + read_timeout
    assert waits <= elapsed < waits + 8, f"{elapsed:.1f} s"
    timed_out = (f"GET {hung_server.url}{API_PREFIX}/datasets?logs=false&bin_count=1 timed out waiting for "
                 "the answer")
    shown = unescaped(app.error[0].value)
    assert shown == f"Cannot reach the server, so could not load the datasets. {timed_out}"
    assert "unreachable" in sidebar_badge(app)
    assert app.button(key="retry:load the datasets")

    # Still usable: another page opens, and the badge does not wait again.
    started = time.monotonic()
    app.switch_page("pages/connection.py").run()
    assert not app.exception
    assert time.monotonic() - started < 5
    assert app.title[0].value == "Connection"


def test_a_stopped_wait_is_said_and_not_asked_again_until_retry(
    hung_server: ClosingServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the Stop waiting button leaves behind (a click during a run, which AppTest cannot make): the
    page says it stopped waiting, sends nothing for it, and Retry asks again."""
    monkeypatch.setattr(calls, "STATUS_READ_TIMEOUT", 1.0)  # the badge's one wait on the hung server
    app = app_on(hung_server.url, timeout=1.0)
    app.session_state["calls.stopped_waiting"] = {"load the datasets"}
    app.run()
    assert not app.exception
    assert [unescaped(warning.value) for warning in app.warning] == [
        f"Stopped waiting for {hung_server.url} to load the datasets."]
    assert hung_server.accepted == 1, "only the badge's /status"


def test_settings_that_name_retries_or_a_connect_timeout_keep_them(closing_server: ClosingServer) -> None:
    app = app_on(closing_server.url, max_retries=2)
    app.run()
    assert not app.exception
    assert closing_server.accepted == 2 * 3, "the badge's /status and the datasets, three attempts each"

    given = ClientSettings(base_url=closing_server.url, token="t", connect_timeout=12.5, max_retries=1)
    assert (server.app_settings(given).connect_timeout, server.app_settings(given).max_retries) == (12.5, 1)
    # A whole-request timeout shorter than 5 s caps the connect timeout too, as in the library, and is kept.
    short = server.app_settings(ClientSettings(base_url=closing_server.url, token="t", timeout=2.0))
    assert (short.connect_timeout, short.max_retries, short.http_timeout().read) == (2.0, 0, 2.0)
    plain = server.app_settings(ClientSettings(base_url=closing_server.url, token="t"))
    assert (plain.connect_timeout, plain.max_retries, plain.http_timeout().read) == (
        server.INTERACTIVE_CONNECT_TIMEOUT, 0, server.INTERACTIVE_READ_TIMEOUT)
    # The cached client calls with the same limits (a with_options copy of the one client per settings).
    options = server.cached_client(ClientSettings(base_url=closing_server.url, token="t")).options
    assert (options.max_retries, options.http_timeout().read) == (0, server.INTERACTIVE_READ_TIMEOUT)


def test_testing_an_address_that_drops_packets_fails_within_seconds(
    full_backlog_url: str, closing_server: ClosingServer
) -> None:
    app = app_on(closing_server.url)  # configured, so that no embedded server starts
    app.run()
    app.switch_page("pages/connection.py").run()
    app.text_input(key="connection.base_url").input(full_backlog_url)
    app.radio(key="connection.auth").set_value("Bearer token").run()
    app.text_input(key="connection.token").input("not-a-real-token")

    started = time.monotonic()
    app.button(key="connection.test").click().run()
    elapsed = time.monotonic() - started
    assert not app.exception
    [error] = app.error
    assert unescaped(error.value) == f"GET {full_backlog_url}{API_PREFIX}/status timed out while connecting"
    low, high = INTERACTIVE_CALL_SECONDS
    assert low <= elapsed < high, f"{elapsed:.1f} s: expected one connect attempt of 5 s"
