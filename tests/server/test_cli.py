"""The command line as people run it: demo credentials and --demo on a first start, option checks, and
secrets that never reach reprs, the banner or the log."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from ueba_api import Dataset, ServerError, TimeRange, UebaClient
from ueba_server.config import (
    DEFAULT_CONNECTIONS,
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    DEMO_OAUTH_CLIENT_ID,
    DEMO_OAUTH_CLIENT_SECRET,
    ApiClient,
    ServerConfig,
)
from ueba_server.connections import Window
from ueba_server.demo import create_demo_dataset
from ueba_server.launch import PROJECT_ROOT, RunningServer, default_startup_timeout, free_port
from ueba_server.openapi import UEBA_PREFIX
from ueba_server.state import ServerState

from .helpers import bearer_token, data_span, is_alive, standby_workers, wait_until

CREDENTIAL_VARIABLES = [name for name in os.environ if name.startswith("PRIVX_API_")]


def run_server(
    data_dir: Path, *options: str, env: dict[str, str] | None = None, cwd: Path = PROJECT_ROOT
) -> tuple[subprocess.Popen, str]:
    """`python -m ueba_server` as a person runs it; its output goes to `output.txt` in the data dir."""
    port = free_port("127.0.0.1")
    environment = {name: value for name, value in os.environ.items() if name not in CREDENTIAL_VARIABLES}
    environment["PYTHONPATH"] = str(PROJECT_ROOT)  # whatever the working directory
    data_dir.mkdir(parents=True, exist_ok=True)
    with (data_dir / "output.txt").open("a") as output:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "ueba_server",
                "--port",
                str(port),
                "--data-dir",
                str(data_dir),
                *options,
            ],
            stdout=output,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=environment | (env or {}),
        )
    base_url = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        try:
            return httpx.get(f"{base_url}{UEBA_PREFIX}/status").status_code == 200
        except httpx.TransportError:
            assert process.poll() is None, (data_dir / "output.txt").read_text()
            return False

    wait_until(answers, 60, "the server did not answer")
    return process, base_url


def stop(process: subprocess.Popen, data_dir: Path) -> str:
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=30)
    return (data_dir / "output.txt").read_text()


def demo_client(base_url: str) -> UebaClient:
    return UebaClient(
        base_url,
        client_id=DEMO_CLIENT_ID,
        client_secret=DEMO_CLIENT_SECRET,
        oauth_client_secret=DEMO_OAUTH_CLIENT_SECRET,
    )


def test_demo_start_prints_the_demo_credentials_and_trains_the_last_90_days(tmp_path: Path) -> None:
    process, base_url = run_server(tmp_path, "--demo", "--connections", "12000", "--epochs", "2")
    try:
        with demo_client(base_url) as api:
            (demo,) = api.list_datasets().items
            wait_until(
                lambda: api.get_dataset(demo.id).latest_result.status != "TRAINING", 60, "no demo model"
            )
            result = api.get_dataset(demo.id).latest_result
            assert result.status == "SUCCESS"
            assert api.get_dataset(demo.id).is_active  # ready for the app to show
            _, last = data_span(api)
            in_range = api.count_connections(demo.time_range_settings)
            wait_until(lambda: "ended: SUCCESS" in (tmp_path / "output.txt").read_text(), 10, "no end logged")
    finally:
        output = stop(process, tmp_path)
    assert f"Demo API client: {DEMO_CLIENT_ID} / {DEMO_CLIENT_SECRET}" in output
    assert f"Demo OAuth client: {DEMO_OAUTH_CLIENT_ID} / {DEMO_OAUTH_CLIENT_SECRET}" in output
    # The last 90 whole UTC days: about half the six months generated, and the comment says which.
    start, end = demo.time_range_settings.start, demo.time_range_settings.end
    assert end - start == timedelta(days=90)
    assert (end.hour, end.minute, end.second, end.microsecond) == (0, 0, 0, 0)
    assert end - timedelta(days=1) <= last < end
    days = f"{start:%Y-%m-%d} to {last:%Y-%m-%d} (UTC)"
    assert demo.comment == f"Demo: the last 90 days of the connection history, {days}"
    assert 5_000 <= in_range == result.num_connections < 0.6 * 12_000
    assert f"of dataset {demo.id} ended: SUCCESS, 2 epochs, " in output

    process, base_url = run_server(tmp_path, "--demo")  # not a first start: nothing new
    try:
        with demo_client(base_url) as api:
            assert api.list_datasets().count == 1
            assert api.count_connections() == 12000
    finally:
        stop(process, tmp_path)


def test_a_demo_on_a_history_too_small_for_90_days_trains_on_all_of_it(tmp_path: Path) -> None:
    state = ServerState.open(ServerConfig(data_dir=tmp_path, connections=6_000, seed=3, epochs=1))
    try:
        create_demo_dataset(state.service, state.counter)
        (demo,) = state.datasets.list()
        in_range = state.counter.count(Window.from_request(state.datasets.time_range(demo["id"])))
        run = demo["training_results"][0]
    finally:
        state.close()
    assert demo["comment"] == "Demo: the whole connection history"
    assert in_range == run["num_connections"] == 6_000  # the last 90 days would hold fewer than 5,000


def test_a_worker_that_cannot_start_leaves_a_failure_not_a_training_that_blocks_the_dataset(
    tmp_path: Path,
) -> None:
    # A server whose working directory is removed under it can no longer spawn a worker process
    # (multiprocessing hands the child os.getcwd()): a real way for the worker start to fail. The worker
    # it started to stand by before that is killed, so that no run has a worker.
    workdir, data_dir = tmp_path / "workdir", tmp_path / "data"
    workdir.mkdir()
    process, base_url = run_server(data_dir, "--connections", "6000", cwd=workdir)
    try:
        wait_until(lambda: len(standby_workers(process.pid)) == 1, 60, "no worker stood by")
        workdir.rmdir()
        (standby,) = standby_workers(process.pid)
        os.kill(standby, signal.SIGKILL)
        with demo_client(base_url) as api:
            dataset_id = api.create_dataset(Dataset(time_range_settings=TimeRange()))
            errors = []
            for _ in range(2):  # the second attempt is not a 409 "Training is already on-going"
                with pytest.raises(ServerError) as failed:
                    api.train_dataset(dataset_id)
                errors.append(failed.value)
            results = api.get_dataset(dataset_id).training_results
    finally:
        output = stop(process, data_dir)
    for error in errors:
        assert (error.status_code, error.error_code) == (500, "GENERAL_ERROR")
        assert error.error_message == "The training worker process could not be started: see the server log"
    outcomes = [(result.status, result.error_code) for result in results]
    assert outcomes == [("FAILURE", "WORKER_START_FAILED")] * 2
    assert "could not be started (FileNotFoundError" in results[-1].error_details
    assert f"of dataset {dataset_id} ended: FAILURE (WORKER_START_FAILED), 0 epochs" in output


def test_configured_secrets_are_never_printed(tmp_path: Path) -> None:
    secrets = {
        "PRIVX_API_CLIENT_ID": "ops-bot",
        "PRIVX_API_CLIENT_SECRET": "s3cret-client-value",
        "PRIVX_API_OAUTH_CLIENT_SECRET": "s3cret-oauth-value",
    }
    process, base_url = run_server(tmp_path, "--connections", "6000", env=secrets)
    try:
        with UebaClient(base_url, client_id="ops-bot", client_secret="s3cret-client-value",
                        oauth_client_secret="s3cret-oauth-value") as api:  # fmt: skip
            assert api.count_connections() == 6000
            dataset_id = api.create_dataset(Dataset(time_range_settings=TimeRange()))
            assert api.get_dataset(dataset_id).created_by == "ops-bot"
    finally:
        output = stop(process, tmp_path)
    assert "API client: ops-bot (secret as configured)" in output
    assert "s3cret" not in output and DEMO_CLIENT_SECRET not in output


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--client-id", "only-an-id"], "--client-id and --client-secret go together"),
        (["--certfile", "cert.pem"], "--certfile and --keyfile go together"),
        (["--tls", "--certfile", "c.pem", "--keyfile", "k.pem"], "not allowed with argument"),
        (["--epochs", "0"], "must be a positive integer"),
    ],
)
def test_bad_options_are_refused_with_a_message(tmp_path: Path, options: list[str], message: str) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "ueba_server", "--data-dir", str(tmp_path), *options],
        capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=60,
        env={name: value for name, value in os.environ.items() if name not in CREDENTIAL_VARIABLES},
    )  # fmt: skip
    assert completed.returncode != 0 and message in completed.stderr
    assert "Traceback" not in completed.stderr


def test_secrets_stay_out_of_reprs_and_the_log(reference_server: RunningServer) -> None:
    server = reference_server
    token = bearer_token(server, server.client_id, server.client_secret)
    httpx.get(f"{server.base_url}{UEBA_PREFIX}/datasets", headers={"Authorization": f"Bearer {token}"})
    time.sleep(0.2)  # let the access log line land
    log = (server.data_dir / "server.log").read_text()
    for secret in (server.client_secret, server.oauth_client_secret, server.view_client_secret, token):
        assert secret not in repr(server) and secret not in log
    config = ServerConfig(data_dir=server.data_dir, api_clients=(ApiClient("bot", "hidden-value"),))
    assert "hidden-value" not in repr(config)


def test_a_started_server_ends_when_its_starter_is_killed(tmp_path: Path) -> None:
    starter = subprocess.Popen(
        [sys.executable, "-c", (
            "import sys, time\n"
            "from ueba_server.launch import start_server\n"
            "server = start_server(sys.argv[1], connections=6000)\n"
            "print(server.pid, flush=True)\n"
            "time.sleep(600)\n"
        ), str(tmp_path)],
        stdout=subprocess.PIPE, text=True, cwd=PROJECT_ROOT,
    )  # fmt: skip
    server_pid = int(starter.stdout.readline())
    try:
        assert is_alive(server_pid)
        starter.kill()  # no chance to clean up: the server must notice alone
        starter.wait()
        wait_until(lambda: not is_alive(server_pid), 20, "the server outlived its starter")
    finally:
        if is_alive(server_pid):
            os.kill(server_pid, signal.SIGKILL)
    assert "Application shutdown complete" in (tmp_path / "server.log").read_text()  # it ended gracefully


def test_start_server_waits_longer_for_a_bigger_history_to_generate() -> None:
    assert default_startup_timeout(None) == default_startup_timeout(DEFAULT_CONNECTIONS) >= 120
    assert default_startup_timeout(10_000) >= 120
    # 10M took about 100 s to generate, insert and load on a busy machine (bench/RESULTS.md).
    assert default_startup_timeout(10_000_000) >= 3 * 100
    assert default_startup_timeout(20_000_000) > default_startup_timeout(10_000_000)
