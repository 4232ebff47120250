"""An unreachable server costs the user seconds, not minutes: the app's clients connect with a 5 s timeout
and retry once (unless the settings say otherwise), and the sidebar badge remembers a failed /status for
a while instead of waiting for it again on every rerun.

Two stand-ins for a broken server, both real sockets: one that accepts each connection and closes it at
once (it counts them, so the attempts can be counted), and one whose accept queue is full, so the
kernel drops new connection requests and a connect hangs until its timeout, as with an address that
silently drops packets.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
from streamlit.testing.v1 import AppTest

from tests.app.conftest import APP
from ueba_api.client import API_PREFIX
from ueba_api.settings import ClientSettings
from ui import server

# Two attempts of INTERACTIVE_CONNECT_TIMEOUT, plus the pause between them (at most 0.5 s), plus slack for
# a busy machine; the library's defaults (three attempts of 10 s) would take over 30 s.
ATTEMPTS_SECONDS = 2 * server.INTERACTIVE_CONNECT_TIMEOUT
INTERACTIVE_CALL_SECONDS = (ATTEMPTS_SECONDS, ATTEMPTS_SECONDS + 5)


class ClosingServer:
    """Accepts connections and closes each at once, answering nothing; counts them."""

    def __init__(self) -> None:
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
            connection.close()

    def close(self) -> None:
        self._socket.shutdown(socket.SHUT_RDWR)  # wakes the accept() waiting in the thread
        self._socket.close()
        self._thread.join(5)


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


def test_each_call_retries_once_and_the_badge_remembers_a_failure(closing_server: ClosingServer) -> None:
    app = app_on(closing_server.url)
    app.run()
    assert not app.exception
    assert "unreachable" in sidebar_badge(app)
    assert app.error[0].value.startswith("Cannot reach the server, so could not load the datasets.")
    # The badge's /status and the page's list of datasets: two attempts each (max_retries 1).
    assert closing_server.accepted == 4

    app.run()  # any click reruns the page
    assert "unreachable" in sidebar_badge(app), "the badge still says so"
    assert closing_server.accepted == 4 + 2, "only the page asked again"

    app.button(key="retry:load the datasets").click().run()
    assert closing_server.accepted == 6 + 4, "Retry asks everything again, the badge's /status too"


def test_settings_that_name_retries_or_a_connect_timeout_keep_them(closing_server: ClosingServer) -> None:
    app = app_on(closing_server.url, max_retries=2)
    app.run()
    assert not app.exception
    assert closing_server.accepted == 2 * 3

    given = ClientSettings(base_url=closing_server.url, token="t", connect_timeout=12.5, max_retries=0)
    assert (server.interactive(given).connect_timeout,
            server.interactive(given).max_retries) == (12.5, 0)
    # A whole-request timeout shorter than 5 s caps the connect timeout too, as in the library.
    short = server.interactive(ClientSettings(base_url=closing_server.url, token="t", timeout=2.0))
    assert (short.connect_timeout, short.max_retries) == (2.0, 1)


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
    assert error.value == f"GET {full_backlog_url}{API_PREFIX}/status timed out while connecting"
    low, high = INTERACTIVE_CALL_SECONDS
    assert low <= elapsed < high, f"{elapsed:.1f} s: expected two connect attempts of 5 s"
