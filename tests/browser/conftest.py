"""Browser fixtures: `streamlit run app.py` as a user starts it, and Debian's Chromium driven by Playwright.

The app starts its embedded reference server (no secrets, no PRIVX_API_* variables) in a fresh data dir,
with a small connection history so the first-start demo training is quick. Both processes are stopped
in teardown, the embedded server included.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from ueba_server.launch import RunningServer

PROJECT_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = PROJECT_ROOT / "artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
STARTUP_TIMEOUT = 60
# A small history keeps the embedded server's first start (it generates and trains a demo) short; enough
# epochs that the demo's training outlasts the first page load, which shows it TRAINING.
APP_ENVIRONMENT = {"UEBA_NOTEBOOK_CONNECTIONS": "20000", "UEBA_NOTEBOOK_EPOCHS": "12",
                   "UEBA_NOTEBOOK_SEED": "5"}


@dataclass
class RunningApp:
    url: str
    data_dir: Path
    log: Path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def children_of(pid: int) -> list[int]:
    """The processes `pid` started (the app's embedded server runs in a process group of its own)."""
    tasks = Path(f"/proc/{pid}/task")
    return [int(child) for task in tasks.iterdir() for child in (task / "children").read_text().split()]


def still_running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def wait_until_healthy(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"streamlit exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/_stcore/health", timeout=2).text == "ok":
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"streamlit did not answer within {STARTUP_TIMEOUT} s:\n{log.read_text()[-3000:]}")


def privx_secrets_toml(server: RunningServer) -> str:
    """A secrets.toml whose [privx] section points the app at `server`."""
    names = ("base_url", "client_id", "client_secret", "oauth_client_id", "oauth_client_secret")
    return "[privx]\n" + "".join(f"{name} = {json.dumps(getattr(server, name))}\n" for name in names)


def start_streamlit(
    port: int, environment: dict[str, str], secrets: Path, log: Path
) -> subprocess.Popen[bytes]:
    """`streamlit run app.py` on `port`, with `secrets` as its only secrets file, output to `log`."""
    command = [
        sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
        "--server.port", str(port), "--server.fileWatcherType", "none", "--secrets.files", str(secrets),
    ]
    with log.open("wb") as output:
        return subprocess.Popen(command, cwd=PROJECT_ROOT, env=environment, stdout=output,
                                stderr=subprocess.STDOUT, start_new_session=True)


@pytest.fixture(scope="module")
def streamlit_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    """The app as a user starts it with nothing configured: it starts its embedded server."""
    with running_app(tmp_path_factory.mktemp("streamlit-app")) as app:
        yield app


@contextmanager
def running_app(home: Path, secrets_toml: str | None = None) -> Iterator[RunningApp]:
    """`streamlit run app.py` in `home` (data dir, log, secrets), stopped with what it started."""
    data_dir, log = home / "server", home / "streamlit.log"
    secrets_file = home / "secrets.toml"
    if secrets_toml is not None:
        secrets_file.write_text(secrets_toml)
    port = free_port()
    environment = {name: value for name, value in os.environ.items() if not name.startswith("PRIVX_API_")}
    environment |= APP_ENVIRONMENT | {"UEBA_NOTEBOOK_DATA_DIR": str(data_dir)}
    # Never a secrets.toml a developer may keep in the checkout: without one of its own, the app must start
    # its embedded server.
    process = start_streamlit(port, environment, secrets_file, log)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_healthy(url, process, log)
        yield RunningApp(url, data_dir, log)
    finally:
        started_by_app = children_of(process.pid) if process.poll() is None else []
        # SIGTERM lets Streamlit exit normally, which stops the embedded server too (atexit).
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        leftovers = [pid for pid in started_by_app if still_running(pid)]
        for pid in leftovers:
            os.killpg(pid, signal.SIGKILL)
        assert not leftovers, "the app left processes it started running (its embedded server?)"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, timezone_id="America/New_York")
    try:
        yield context.new_page()
    finally:
        context.close()
