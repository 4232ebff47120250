"""Running `ueba` as a user does: `python -m ueba_api` in a subprocess, connected to the session's reference
server through the `PRIVX_API_*` variables. Every run is checked for leaked secrets (stdout and stderr)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ueba_server.launch import RunningServer

PROJECT_ROOT = Path(__file__).resolve().parents[2]
COMMAND_TIMEOUT = 180


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


def server_environment(server: RunningServer) -> dict[str, str]:
    return {
        "PRIVX_API_BASE_URL": server.base_url,
        "PRIVX_API_CLIENT_ID": server.client_id,
        "PRIVX_API_CLIENT_SECRET": server.client_secret,
        "PRIVX_API_OAUTH_CLIENT_ID": server.oauth_client_id,
        "PRIVX_API_OAUTH_CLIENT_SECRET": server.oauth_client_secret,
    }


def secrets_of(server: RunningServer) -> list[str]:
    return [server.client_secret, server.oauth_client_secret, server.view_client_secret]


def run_cli(
    args: list[str], environment: dict[str, str], *, secrets: list[str], cwd: Path, stdin: str | None = None
) -> Result:
    # Only the variables a command needs, and none a developer may have set for a real PrivX.
    base = {name: value for name, value in os.environ.items() if not name.startswith("PRIVX_API_")}
    completed = subprocess.run(
        [sys.executable, "-m", "ueba_api", *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
        env=base | {"PYTHONPATH": str(PROJECT_ROOT), "COLUMNS": "200"} | environment,
    )
    for secret in secrets:
        assert secret not in completed.stdout and secret not in completed.stderr, f"a secret leaked: {args}"
    assert "Traceback" not in completed.stderr, completed.stderr
    return Result(completed.returncode, completed.stdout, completed.stderr)


CliRunner = Callable[..., Result]


@pytest.fixture
def cli(reference_server: RunningServer, tmp_path: Path) -> CliRunner:
    """`cli("datasets", "list", env={...}, stdin=...)`: env entries override (or, as None, remove) the
    server's variables."""

    def run(*args: str, env: dict[str, str | None] | None = None, stdin: str | None = None) -> Result:
        environment = server_environment(reference_server) | (env or {})
        given = {name: value for name, value in environment.items() if value is not None}
        return run_cli(list(args), given, secrets=secrets_of(reference_server), cwd=tmp_path, stdin=stdin)

    return run


def days_ago(days: float) -> str:
    moment = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=days)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture(scope="module")
def trained(reference_server: RunningServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """A dataset over the last 90 days created and trained twice through the CLI (runs 1 and 2)."""
    folder = tmp_path_factory.mktemp("cli")
    environment = server_environment(reference_server)
    secrets = secrets_of(reference_server)
    # Computed once: a test run spanning the turn of an hour must see the same times as the dataset.
    start, end, exclusion = days_ago(90), days_ago(0), f"{days_ago(40)}/{days_ago(33)}"
    created = run_cli(
        [
            "datasets",
            "create",
            "--start",
            start,
            "--end",
            end,
            "--exclude",
            exclusion,
            "--comment",
            "CLI <b>test</b> [bold]",
            "--json",
        ],
        environment,
        secrets=secrets,
        cwd=folder,
    )
    assert created.code == 0, created.stderr
    dataset_id = created.json()["id"]
    trainings = [
        run_cli(
            ["train", dataset_id, "--wait", "--interval", "0.5", "--json"],
            environment,
            secrets=secrets,
            cwd=folder,
        )
        for _ in range(2)
    ]
    yield {
        "id": dataset_id,
        "start": start,
        "end": end,
        "exclusion": exclusion,
        "trainings": trainings,
        "folder": folder,
    }
