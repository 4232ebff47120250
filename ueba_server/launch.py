"""Starting the reference server from Python (for the app, notebooks and tests).

    with start_server(tmp_dir, connections=50_000, epochs=5) as server:
        with server.client() as api:
            api.list_datasets()

The server runs as `python -m ueba_server` in a subprocess of its own process group; fresh random
credentials go to it through the environment (never argv, which any local user can read). Its output
goes to `server.log` in the data dir. It ends by itself when the process that started it ends, even
if that one is killed, so a crashed app or test session leaves no server behind.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import httpx

from ueba_server.config import DEFAULT_CONNECTIONS, DEMO_OAUTH_CLIENT_ID, ENVIRONMENT, PARENT_PID_VARIABLE
from ueba_server.openapi import UEBA_PREFIX
from ueba_server.tls import CERT_FILE

if TYPE_CHECKING:
    from ueba_api.client import UebaClient

PROJECT_ROOT = Path(__file__).resolve().parents[1]  # the folder that holds this package
LOG_FILE = "server.log"
# A first start generates the history before it answers: about 10 s per million connections on a busy
# 2-core machine (bench/RESULTS.md: 96 s to generate and insert 10M, 4 s to load the start times).
# The default wait allows three times that on top of a base that covers the default 150k.
BASE_STARTUP_TIMEOUT = 120.0
STARTUP_SECONDS_PER_MILLION = 30.0


def default_startup_timeout(connections: int | None) -> float:
    """Seconds `start_server` waits for `/status` by default: grows with the history to generate."""
    return BASE_STARTUP_TIMEOUT + STARTUP_SECONDS_PER_MILLION * (connections or DEFAULT_CONNECTIONS) / 1e6


@dataclass(repr=False)
class RunningServer:
    base_url: str
    client_id: str
    client_secret: str
    oauth_client_id: str
    oauth_client_secret: str
    view_client_id: str
    view_client_secret: str
    ca_cert: Path | None
    data_dir: Path
    process: subprocess.Popen[bytes]
    _log: IO[bytes] = field(repr=False)

    @property
    def pid(self) -> int:
        return self.process.pid

    def client(self, **overrides: Any) -> UebaClient:
        """A UebaClient for this server with the manage client's credentials; `overrides` win."""
        from ueba_api.client import UebaClient  # the client package is optional for the server itself

        settings: dict[str, Any] = {
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "oauth_client_id": self.oauth_client_id,
            "oauth_client_secret": self.oauth_client_secret,
            "ca_cert": self.ca_cert,
        }
        return UebaClient(self.base_url, **(settings | overrides))

    def stop(self, timeout: float = 20.0) -> None:
        """Graceful: SIGTERM, so running trainings end as FAILURE 'interrupted by a server shutdown'."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log.close()

    def kill(self) -> None:
        """SIGKILL to the server and its training workers, as a crash would (for restart tests)."""
        # The whole group even when the server itself already ended: its workers may not have.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        self._log.close()

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"RunningServer(base_url={self.base_url!r}, data_dir={str(self.data_dir)!r}, pid={self.pid})"


def start_server(
    data_dir: str | os.PathLike[str],
    *,
    host: str = "127.0.0.1",
    port: int | None = None,
    tls: bool = False,
    connections: int | None = None,
    seed: int | None = None,
    epochs: int | None = None,
    demo: bool = False,
    startup_timeout: float | None = None,
    token_lifetime: int | None = None,
    max_trainings: int | None = None,
) -> RunningServer:
    """Starts the server and returns once its /status answers (RuntimeError if it does not).

    `startup_timeout` None waits `default_startup_timeout(connections)`: 120 s plus 30 s per million
    connections (10M: 420 s). `token_lifetime` (seconds a bearer token lives) and `max_trainings` (the
    cap of concurrent trainings) are additions to the
    documented signature.
    """
    data_dir = Path(data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port(host)
    credentials = {
        "client_id": f"ueba-{secrets.token_hex(4)}",
        "client_secret": secrets.token_urlsafe(24),
        "oauth_client_id": DEMO_OAUTH_CLIENT_ID,
        "oauth_client_secret": secrets.token_urlsafe(24),
        "view_client_id": f"ueba-view-{secrets.token_hex(4)}",
        "view_client_secret": secrets.token_urlsafe(24),
    }
    command = [
        sys.executable,
        "-m",
        "ueba_server",
        "--host",
        host,
        "--port",
        str(port),
        "--data-dir",
        str(data_dir),
    ]
    sizes = (
        ("--connections", connections),
        ("--seed", seed),
        ("--epochs", epochs),
        ("--token-lifetime", token_lifetime),
        ("--max-trainings", max_trainings),
    )
    for option, value in sizes:
        if value is not None:
            command += [option, str(value)]
    command += ["--tls"] * tls + ["--demo"] * demo
    environment = os.environ | {ENVIRONMENT[name]: value for name, value in credentials.items()}
    environment[PARENT_PID_VARIABLE] = str(os.getpid())
    environment["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")])
    )
    log = (data_dir / LOG_FILE).open("ab")
    process = subprocess.Popen(
        command,
        env=environment,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        cwd=PROJECT_ROOT,
    )
    server = RunningServer(
        base_url=f"{'https' if tls else 'http'}://{_url_host(host)}:{port}",
        ca_cert=data_dir / CERT_FILE if tls else None,
        data_dir=data_dir,
        process=process,
        _log=log,
        **credentials,
    )
    try:
        timeout = default_startup_timeout(connections) if startup_timeout is None else startup_timeout
        _wait_until_ready(server, timeout)
    except BaseException:
        server.kill()
        raise
    return server


def _wait_until_ready(server: RunningServer, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    status_url = f"{server.base_url}{UEBA_PREFIX}/status"
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"The UEBA reference server exited with code {server.process.returncode} while starting:\n"
                f"{_log_tail(server.data_dir / LOG_FILE)}"
            )
        if server.ca_cert is None or server.ca_cert.exists():
            try:
                # A certificate left torn by a crash reads as an SSLError until the server remakes it.
                verify = ssl.create_default_context(cafile=server.ca_cert) if server.ca_cert else True
                if httpx.get(status_url, verify=verify, timeout=2.0).status_code == 200:
                    return
            except (httpx.TransportError, ssl.SSLError):
                pass
        time.sleep(0.2)
    log_tail = _log_tail(server.data_dir / LOG_FILE)
    raise RuntimeError(f"The UEBA reference server did not answer within {timeout:.0f} s:\n{log_tail}")


def _log_tail(path: Path, lines: int = 30) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def free_port(host: str) -> int:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
