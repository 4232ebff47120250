"""The embedded reference server: started on first use, kept for the process, restarted if it dies.

It keeps its data in `$UEBA_NOTEBOOK_DATA_DIR` (default `$XDG_DATA_HOME/ueba-notebook/server`, i.e.
`~/.local/share/ueba-notebook/server`); `UEBA_NOTEBOOK_CONNECTIONS`, `UEBA_NOTEBOOK_EPOCHS` and
`UEBA_NOTEBOOK_SEED` size its generated connection history and its trainings (small values make a quick
demo or test). Should its process end (a crash, a kill), the next run starts it again on the same data.
"""

from __future__ import annotations

import atexit
import json
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import streamlit as st

from ueba_api.settings import ClientSettings
from ui.client_cache import forget_client
from ui.feedback import notify
from ui.targets import SettingsProblem

if TYPE_CHECKING:
    from ueba_server.launch import RunningServer

DATA_DIR_VARIABLE = "UEBA_NOTEBOOK_DATA_DIR"
# Environment variable -> start_server keyword, for sizing the embedded server's demo data.
EMBEDDED_SIZE_VARIABLES = {
    "UEBA_NOTEBOOK_CONNECTIONS": "connections",
    "UEBA_NOTEBOOK_EPOCHS": "epochs",
    "UEBA_NOTEBOOK_SEED": "seed",
}

# Session-state key owned by this module (cleared by ui/calls.py's `forget_answers`).
_EMBEDDED_FAILURE = "session.embedded_failure"


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
            forget_client(_server_settings(server))
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


def _release_at_exit() -> None:
    """Streamlit releases cached resources when a cache is cleared, not when the process exits.

    Clients close first: an open keep-alive connection would hold up the embedded server's graceful
    shutdown. (A server left running would still end by itself once this process is gone.)
    """
    forget_client()
    _embedded_server.clear()


# Once per process, however many clients and servers come and go.
atexit.register(_release_at_exit)
