"""Running `ueba` against the session's reference server, connected through the `PRIVX_API_*` variables.

Most commands run in this process: `ueba_api.cli.app.main(args)` inside Click's test isolation, with the
environment a subprocess would get (the test's `PRIVX_API_*` only, none inherited; COLUMNS=200), its own
stdin, stdout and stderr, and the test's folder as the working directory. That spares each command a
Python start and the import of pandas, altair, typer and rich (1.5 to 2.5 s a command). `main` must end
in SystemExit: any other exception fails the test, as the traceback it would print fails a subprocess run.

A real `python -m ueba_api` process (`cli_process`) runs where the process itself is what is tested:
- the entry points: `python -m ueba_api` and the `ueba` script as pyproject.toml declares it, with the exit
  codes reaching the shell (test_the_command_as_a_user_runs_it, a normal command among them);
- `--embedded`, which starts a server process for the command and must stop it when the process ends;
- `train --wait` on a terminal (a pseudo-terminal from `script`), where Rich draws a progress bar.

Every run, in either form, is checked for leaked secrets (stdout and stderr) and for a traceback.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

import pytest
from click.testing import CliRunner as ClickRunner

from ueba_api.cli.app import main
from ueba_server.launch import RunningServer

PROJECT_ROOT = Path(__file__).resolve().parents[2]
COMMAND_TIMEOUT = 180
COLUMNS = "200"


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


def process_environment(environment: dict[str, str]) -> dict[str, str]:
    """A `ueba` process's environment: this one's without `PRIVX_API_*` (a developer's may name a real
    PrivX), then the test's variables."""
    base = {name: value for name, value in os.environ.items() if not name.startswith("PRIVX_API_")}
    return base | {"PYTHONPATH": str(PROJECT_ROOT), "COLUMNS": COLUMNS} | environment


def checked(args: list[str], result: Result, secrets: list[str]) -> Result:
    for secret in secrets:
        assert secret not in result.stdout and secret not in result.stderr, f"a secret leaked: {args}"
    assert "Traceback" not in result.stderr, result.stderr
    return result


def run_cli(
    args: list[str],
    environment: dict[str, str],
    *,
    secrets: list[str],
    cwd: Path,
    stdin: str | None = None,
    terminal: TextIO | None = None,
) -> Result:
    """`ueba ARGS` in this process, as `run_process` would run it; its stdout goes to `terminal` if given
    (then `Result.stdout` is empty)."""
    # None removes a variable for the run; Click's isolation puts every one back afterwards.
    inherited = dict.fromkeys(name for name in os.environ if name.startswith("PRIVX_API_"))
    isolated = inherited | {"COLUMNS": COLUMNS} | environment
    with contextlib.chdir(cwd), ClickRunner().isolation(input=stdin, env=isolated) as (stdout, stderr, _):
        if terminal is not None:
            sys.stdout = terminal  # the isolation puts the real one back
        try:
            main(args)
        except SystemExit as exit_:
            code = exit_.code
        except BaseException as error:
            sys.stderr.flush()
            raise AssertionError(
                f"ueba {args}: {type(error).__name__} escaped main (a user would see a traceback); "
                f"stderr: {stderr.getvalue().decode(errors='replace')}"
            ) from error
        else:
            raise AssertionError(f"ueba {args}: main returned instead of exiting with a code")
        sys.stdout.flush()
        sys.stderr.flush()
    assert isinstance(code, int), f"ueba {args}: exit code {code!r}"
    return checked(args, Result(code, stdout.getvalue().decode(), stderr.getvalue().decode()), secrets)


def run_process(
    args: list[str],
    environment: dict[str, str],
    *,
    secrets: list[str],
    cwd: Path,
    stdin: str | None = None,
    command: list[str] | None = None,
) -> Result:
    """`python -m ueba_api ARGS` (or `command ARGS`) as a user runs it."""
    completed = subprocess.run(
        [*(command or [sys.executable, "-m", "ueba_api"]), *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
        env=process_environment(environment),
    )
    return checked(args, Result(completed.returncode, completed.stdout, completed.stderr), secrets)


def script_command() -> list[str]:
    """The `ueba` script as pip would write it from pyproject.toml's [project.scripts]: import the entry
    point and `sys.exit` with what it returns (the package need not be installed here)."""
    with (PROJECT_ROOT / "pyproject.toml").open("rb") as file:
        module, _, function = tomllib.load(file)["project"]["scripts"]["ueba"].partition(":")
    program = f"import sys; from {module} import {function}; sys.exit({function}())"
    return [sys.executable, "-c", program]


CliRunner = Callable[..., Result]


def runner(server: RunningServer, folder: Path, run: Callable[..., Result]) -> CliRunner:
    def invoke(
        *args: str, env: dict[str, str | None] | None = None, stdin: str | None = None, **more: Any
    ) -> Result:
        environment = server_environment(server) | (env or {})
        given = {name: value for name, value in environment.items() if value is not None}
        return run(list(args), given, secrets=secrets_of(server), cwd=folder, stdin=stdin, **more)

    return invoke


@pytest.fixture
def cli(reference_server: RunningServer, tmp_path: Path) -> CliRunner:
    """`cli("datasets", "list", env={...}, stdin=...)` in this process: env entries override (or, as None,
    remove) the server's variables."""
    return runner(reference_server, tmp_path, run_cli)


@pytest.fixture
def cli_process(reference_server: RunningServer, tmp_path: Path) -> CliRunner:
    """As `cli`, in a `python -m ueba_api` process (`command=` for another way to start it)."""
    return runner(reference_server, tmp_path, run_process)


def days_ago(days: float) -> str:
    moment = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=days)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture(scope="module")
def trained(reference_server: RunningServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """A dataset over the last 90 days created and trained twice through the CLI (runs 1 and 2)."""
    folder = tmp_path_factory.mktemp("cli")
    cli = runner(reference_server, folder, run_cli)
    # Computed once: a test run spanning the turn of an hour must see the same times as the dataset.
    start, end, exclusion = days_ago(90), days_ago(0), f"{days_ago(40)}/{days_ago(33)}"
    created = cli(
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
    )
    assert created.code == 0, created.stderr
    dataset_id = created.json()["id"]
    trainings = [cli("train", dataset_id, "--wait", "--interval", "0.5", "--json") for _ in range(2)]
    yield {
        "id": dataset_id,
        "start": start,
        "end": end,
        "exclusion": exclusion,
        "trainings": trainings,
        "folder": folder,
    }
