"""The app with no configuration at all: it starts its embedded reference server, whose sample dataset
trains while the Datasets page polls; and a crashed embedded server is started again on the same data.

No secrets and no PRIVX_API_* variables (conftest clears them); the data dir is this module's own, shared
by its tests, as is the embedded server (Streamlit caches it for the process). The sample's training is
made long enough (EPOCHS) for the first run of the page to see it TRAINING, as a user opening the app
right after the first start does. AppTest never fires run_every: each poll is a run.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.runtime.forward_msg_queue import ForwardMsgQueue
from streamlit.testing.v1 import AppTest

from tests.app.conftest import APP, TRAINING_TIMEOUT, unescaped
from ui import server

CONNECTIONS = 12_000
EPOCHS = 30
SEED = 5
# The first run starts the server (it generates its history first) before drawing anything.
STARTUP_TIMEOUT = 180
POLL_PAUSE = 0.5


@pytest.fixture(scope="module")
def embedded_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    data_dir = tmp_path_factory.mktemp("embedded") / "server"
    yield data_dir
    server.stop_embedded_server()  # stops the module's embedded server


@pytest.fixture
def no_config_app(embedded_data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    """app.py with nothing configured, sized small through the UEBA_NOTEBOOK_* variables."""
    for name, value in {"UEBA_NOTEBOOK_DATA_DIR": str(embedded_data_dir), "UEBA_NOTEBOOK_CONNECTIONS":
                        str(CONNECTIONS), "UEBA_NOTEBOOK_EPOCHS": str(EPOCHS), "UEBA_NOTEBOOK_SEED": str(SEED)
                        }.items():
        monkeypatch.setenv(name, value)
    return AppTest.from_file(APP, default_timeout=STARTUP_TIMEOUT)


@pytest.fixture
def sent_messages() -> Iterator[list[ForwardMsg]]:
    """Every ForwardMsg the app enqueues, auto_rerun (a fragment's run_every) included, which the element
    tree leaves out."""
    messages: list[ForwardMsg] = []
    ForwardMsgQueue.on_before_enqueue_msg(messages.append)
    yield messages
    ForwardMsgQueue.on_before_enqueue_msg(None)


def run(app: AppTest, messages: list[ForwardMsg]) -> list[ForwardMsg]:
    """Runs the app once; the auto_rerun messages of its last pass through app.py.

    A page that calls st.rerun makes one AppTest run two passes. In a browser each full pass begins with
    a new_session message, on which the browser drops every run_every timer set so far; AppTest sends no
    new_session, so a pass is told by the `navigation` message app.py's st.navigation sends each time.
    """
    messages.clear()
    app.run()
    assert not app.exception, [(error.message, *error.stack_trace) for error in app.exception]
    assert not app.error, [error.value for error in app.error]
    passes = [index for index, message in enumerate(messages) if message.HasField("navigation")]
    assert passes, "every run goes through st.navigation"
    return [message for message in messages[passes[-1]:] if message.HasField("auto_rerun")]


def datasets_table(app: AppTest) -> pd.DataFrame:
    [table] = [frame.value for frame in app.dataframe if (frame.key or "").startswith("datasets.table")]
    return table


def sidebar_text(app: AppTest) -> str:
    return " ".join([markdown.value for markdown in app.sidebar.markdown]
                    + [caption.value for caption in app.sidebar.caption])


def embedded_server_pid(data_dir: Path) -> int:
    """The embedded server this process started on `data_dir` (found in /proc, as `ps` would)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(") ", 1)[1].split()[1])
            command = (entry / "cmdline").read_bytes().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue
        if parent == os.getpid() and b"ueba_server" in command and str(data_dir).encode() in command:
            found.append(int(entry.name))
    assert len(found) == 1, f"embedded servers on {data_dir}: {found}"
    return found[0]


def test_without_configuration_the_embedded_server_starts_and_its_sample_trains_while_the_list_polls(
    no_config_app: AppTest, sent_messages: list[ForwardMsg]
) -> None:
    app = no_config_app
    polling = run(app, sent_messages)
    assert "**Embedded reference server**" in sidebar_text(app)
    assert "Started by this app: no PrivX is configured." in sidebar_text(app)
    assert "RUNNING" in sidebar_text(app), "the badge shows the server's /status"

    [sample] = datasets_table(app).to_dict("records")
    assert sample["comment"].startswith("Demo: ")
    assert sample["latest_status"] == "TRAINING", "the sample trained before the page looked: train longer"
    # The list polls while a dataset trains: one fragment with run_every.
    assert len(polling) == 1 and polling[0].auto_rerun.interval > 0

    deadline = time.monotonic() + TRAINING_TIMEOUT
    announced: list[str] = []
    while not announced:
        assert time.monotonic() < deadline, f"no end of training announced in {TRAINING_TIMEOUT} s"
        time.sleep(POLL_PAUSE)
        polling = run(app, sent_messages)
        announced = [unescaped(toast.value) for toast in app.toast if toast.value.startswith("Training ")]
    [message] = announced
    assert message.startswith("Training Demo: ") and message.endswith(f" #1 succeeded after {EPOCHS} epochs.")
    [sample] = datasets_table(app).to_dict("records")
    assert (sample["latest_status"], sample["runs"]) == ("SUCCESS", 1)
    assert polling == [], "nothing trains any more, so nothing polls"
    # Announced once.
    run(app, sent_messages)
    assert not [toast.value for toast in app.toast if toast.value.startswith("Training ")]


def test_a_crashed_embedded_server_is_started_again_on_the_same_data(
    no_config_app: AppTest, embedded_data_dir: Path, sent_messages: list[ForwardMsg]
) -> None:
    app = no_config_app
    run(app, sent_messages)
    dataset_ids = list(datasets_table(app)["id"])
    assert dataset_ids, "the sample dataset"

    crashed = embedded_server_pid(embedded_data_dir)
    os.killpg(crashed, signal.SIGKILL)  # the server and its training workers, as a crash would
    # Until it has exited: WNOWAIT leaves it to be reaped by the app's own Popen.poll(). (/proc showing
    # it a zombie is too early: its other threads may still be exiting, and waitpid does not report it.)
    os.waitid(os.P_PID, crashed, os.WEXITED | os.WNOWAIT)

    run(app, sent_messages)
    restarts = [toast.value for toast in app.toast if toast.value.startswith("The embedded server")]
    assert restarts == [
        "The embedded server had stopped (exit code -9); it was started again, with the same data."]
    assert list(datasets_table(app)["id"]) == dataset_ids
    assert "RUNNING" in sidebar_text(app)
    assert embedded_server_pid(embedded_data_dir) != crashed
