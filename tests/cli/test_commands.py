"""The `ueba` command line against the reference server: what each command does, its JSON, its exit codes,
bad input refused before anything is sent, and no secret in any output. Most commands run in this process;
the entry points, `--embedded` and the terminal run as processes (tests/cli/conftest.py says why)."""

from __future__ import annotations

import json
import os
import pty
import select
import shlex
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.cli.conftest import (
    days_ago,
    process_environment,
    run_cli,
    script_command,
    secrets_of,
    server_environment,
)
from ueba_api.gate import final_loss
from ueba_api.limits import MAX_COMMENT_LENGTH
from ueba_api.models import Dataset, Period, TimeRange


def one_line_error(result) -> str:
    """The error: one line, the last on stderr; any before it are `train --wait`'s progress lines."""
    lines = result.stderr.strip().splitlines()
    assert lines and lines[-1].startswith("Error: "), result.stderr
    assert all(line.startswith("Run ") for line in lines[:-1]), result.stderr
    return lines[-1]


def closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


def test_train_wait_reports_the_run_as_the_api_has_it(trained, api):
    dataset = api.get_dataset(trained["id"])
    for number, training in enumerate(trained["trainings"], start=1):
        assert training.code == 0, training.stderr
        facts = training.json()
        result = dataset.training_results[number - 1]
        assert facts["run"] == number and facts["status"] == "SUCCESS"
        assert facts["num_connections"] == result.num_connections == facts["connections"]
        assert facts["epochs"] == len(result.validation_dataset_loss)
        assert facts["quantile_99"] == result.quantile_99
        assert facts["final_validation_loss"] == final_loss(result.validation_dataset_loss)
        # Not a terminal: plain progress lines on stderr, one per epoch.
        assert f"Run {number}: epoch {facts['epochs']}: training loss" in training.stderr


def test_count_with_the_same_period_as_the_api(cli, trained, api):
    exclusion = trained["exclusion"]
    counted = cli(
        "count", "--start", trained["start"], "--end", trained["end"], "--exclude", exclusion, "--json"
    )
    assert counted.code == 0, counted.stderr
    start, end = exclusion.split("/")
    expected = api.count_connections(
        TimeRange(start=trained["start"], end=trained["end"], exclude=[Period(start=start, end=end)])
    )
    assert counted.json()["count"] == expected
    assert expected == api.count_connections(api.get_dataset(trained["id"]).time_range_settings)
    assert cli("count", "--json").json()["count"] == api.count_connections()


def test_history_json_and_csv(cli, trained, api):
    history = cli("history", trained["id"], "--json")
    assert history.code == 0, history.stderr
    runs = history.json()["runs"]
    results = api.get_dataset(trained["id"]).training_results
    assert [run["run"] for run in runs] == [1, 2]
    assert [run["quantile_99"] for run in runs] == [result.quantile_99 for result in results]
    assert all(run["created (UTC)"].endswith("Z") for run in runs)
    csv = cli("runs", trained["id"], "--format", "csv")
    assert csv.code == 0 and csv.stdout.splitlines()[0].startswith("run,created (UTC),status")
    assert len(csv.stdout.strip().splitlines()) == 3
    table = cli("history", trained["id"])
    assert "Training history of CLI <b>test</b> [bold]" in table.stdout  # the comment as text, not markup


def test_gate_passes_against_itself_and_fails_a_tight_ratio(cli, trained):
    passed = cli("gate", trained["id"], "--run", "1", "--baseline", "1", "--any-warnings", "--json")
    assert passed.code == 0, passed.stderr
    verdict = passed.json()
    assert verdict["passed"] is True and verdict["run"] == 1 and verdict["baseline"]["run"] == 1
    assert {check["name"]: check["value"] for check in verdict["checks"]}["q99_ratio"] == 1.0

    failed = cli(
        "gate",
        trained["id"],
        "--run",
        "1",
        "--baseline",
        "1",
        "--any-warnings",
        "--max-q99-ratio",
        "0.99",
        "--json",
    )
    assert failed.code == 3
    verdict = failed.json()
    assert verdict["passed"] is False
    assert [check["name"] for check in verdict["checks"] if not check["passed"]] == ["q99_ratio"]
    assert "q99" in one_line_error(failed).lower()


def test_gate_counts_warnings(cli, trained, api):
    hints = cli("gate", trained["id"], "--any-warnings", "--json").json()["hints"]
    warnings = sum(hint["severity"] == "warning" for hint in hints)
    strict = cli("gate", trained["id"], "--max-warnings", str(warnings), "--json")
    assert strict.code == 0 and strict.json()["passed"]
    if warnings:
        assert cli("gate", trained["id"], "--max-warnings", str(warnings - 1)).code == 3


def test_report_and_chart_files(cli, trained, tmp_path):
    out = tmp_path / "report.html"
    made = cli(
        "report",
        trained["id"],
        "--compare",
        "1",
        "--threshold",
        "0.05",
        "-o",
        str(out),
        "--charts-dir",
        str(tmp_path / "charts"),
        "--json",
    )
    assert made.code == 0, made.stderr
    facts = made.json()
    assert facts["run"] == 2 and facts["compare"] == 1 and facts["output"] == str(out)
    html = out.read_text()
    assert facts["bytes"] == len(html.encode())
    assert "CLI &lt;b&gt;test&lt;/b&gt; [bold]" in html
    names = sorted(path.name for path in (tmp_path / "charts").iterdir())
    assert names == sorted(
        f"{chart}.{kind}"
        for chart in ("loss-curves", "validation-histogram-1", "validation-histogram-2")
        for kind in ("png", "svg")
    )


def test_status_anomaly_settings_and_analyze(cli, trained, api):
    status = cli("status", "--json").json()
    assert status["version"] == api.get_status().version
    before = api.get_anomaly_settings()
    try:
        changed = cli("anomaly-settings", "set", "--threshold", "0.25", "--json")
        assert changed.code == 0 and changed.json() == {"action": before.action.value, "threshold": 0.25}
        assert cli("anomaly-settings", "get", "--json").json()["threshold"] == 0.25
    finally:
        api.set_anomaly_settings(before)
    assert cli("analyze", "start", trained["id"], "--json").json() == {"analyzing": trained["id"]}
    assert api.get_dataset(trained["id"]).is_active
    assert cli("analyze", "stop", "--json").code == 0
    assert not api.get_dataset(trained["id"]).is_active


def test_datasets_list_show_update_delete(cli, api):
    end = days_ago(10)
    created = cli("datasets", "create", "--start", days_ago(20), "--end", end, "--json").json()["id"]
    listed = cli("datasets", "list", "--json").json()
    assert created in [item["id"] for item in listed["datasets"]] and listed["count"] == len(
        listed["datasets"]
    )
    shown = cli("datasets", "show", created, "--json").json()
    assert shown["connections"] == api.count_connections(api.get_dataset(created).time_range_settings)
    assert cli("datasets", "update", created, "--comment", "renamed").code == 0
    dataset = api.get_dataset(created)
    assert dataset.comment == "renamed"
    assert dataset.time_range_settings.end.strftime("%Y-%m-%dT%H:%M:%SZ") == end  # kept
    assert cli("datasets", "delete", created, "--json").json() == {"id": created, "deleted": True}
    assert created not in [item.id for item in api.list_datasets().items]


def test_a_failed_training_exits_1_and_a_timeout_4(cli):
    # One day holds far fewer connections than the engine's minimum: the run ends in FAILURE.
    small = cli("datasets", "create", "--start", days_ago(2), "--end", days_ago(1), "--json").json()["id"]
    failed = cli("train", small, "--wait", "--interval", "0.3", "--json")
    assert failed.code == 1
    assert failed.json()["status"] == "FAILURE" and failed.json()["error_code"] == "NOT_ENOUGH_CONNECTIONS"
    assert "failed" in one_line_error(failed)

    bigger = cli("datasets", "create", "--start", days_ago(60), "--end", days_ago(0), "--json").json()["id"]
    waited = cli("train", bigger, "--wait", "--timeout", "0")
    assert waited.code == 4
    assert "still training" in one_line_error(waited)


def test_api_errors_exit_1_with_one_line(cli, trained, reference_server):
    untrained = cli("datasets", "create", "--start", days_ago(5), "--end", days_ago(4), "--json").json()["id"]
    refused = cli("analyze", "start", untrained)
    assert refused.code == 1
    one_line_error(refused)
    wrong = "not-the-secret-" + uuid.uuid4().hex
    denied = cli("datasets", "list", env={"PRIVX_API_CLIENT_SECRET": wrong})
    assert denied.code == 1
    assert wrong not in denied.stderr + denied.stdout
    one_line_error(denied)
    unreachable = cli(
        "status",
        env={"PRIVX_API_BASE_URL": closed_port_url()},
    )
    assert unreachable.code == 1
    one_line_error(unreachable)


CREATE_JANUARY = ["datasets", "create", "--start", "2026-01-01", "--end", "2026-03-01"]


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (["datasets", "create", "--start", "yesterday", "--end", "2026-01-01"], "--start"),
        (["datasets", "create", "--start", "2026-02-01", "--end", "2026-01-01"], "--end"),
        ([*CREATE_JANUARY, "--exclude", "2026-02-10/2026-02-01"], "--exclude"),
        ([*CREATE_JANUARY, "--exclude", "2026-02-10"], "--exclude"),
        ([*CREATE_JANUARY, "--comment", "x" * (MAX_COMMENT_LENGTH + 1)], "--comment"),
        (["count", "--start", "2026-13-01"], "--start"),
        (["gate", "some-id", "--baseline", "best"], "--baseline"),
        (["gate", "some-id", "--max-q99-ratio", "0"], "--max-q99-ratio"),
        (["train", "some-id", "--bogus"], "--bogus"),
        (["anomaly-settings", "set", "--threshold", "1.5"], "--threshold"),
    ],
)
def test_bad_input_exits_2_before_anything_is_sent(cli, args, names):
    # The server's address is a closed port: an exit 2 (not 1) shows no request was tried.
    result = cli(*args, env={"PRIVX_API_BASE_URL": closed_port_url()})
    assert result.code == 2, result.stderr
    assert names in result.stderr
    assert result.stdout == ""


def test_unknown_ids_and_runs_exit_2(cli, trained, api):
    before = len(api.get_dataset(trained["id"]).training_results)
    for args in (
        ["train", str(uuid.uuid4())],
        ["train", "not-a-uuid"],
        ["datasets", "delete", str(uuid.uuid4())],
        ["gate", trained["id"], "--run", "99"],
        ["report", trained["id"], "--compare", "99"],
    ):
        result = cli(*args)
        assert result.code == 2, (args, result.stderr)
        one_line_error(result)
    assert len(api.get_dataset(trained["id"]).training_results) == before


def test_secrets_from_stdin_and_files(cli, reference_server, tmp_path):
    secret_file = tmp_path / "secret"
    secret_file.write_text(reference_server.client_secret + "\n")
    without = {"PRIVX_API_CLIENT_SECRET": None}
    from_file = cli("--client-secret", f"@{secret_file}", "status", "--json", env=without)
    assert from_file.code == 0, from_file.stderr
    from_stdin = cli(
        "--client-secret", "-", "status", "--json", env=without, stdin=reference_server.client_secret + "\n"
    )
    assert from_stdin.code == 0, from_stdin.stderr
    missing = cli("--client-secret", f"@{tmp_path / 'nothing'}", "status", env=without)
    assert missing.code == 2 and "--client-secret" in one_line_error(missing)
    twice = cli("--client-secret", "-", "--oauth-client-secret", "-", "status", env=without, stdin="a\nb\n")
    assert twice.code == 2 and "stdin" in one_line_error(twice)
    no_settings = cli("status", env={"PRIVX_API_BASE_URL": None})
    assert no_settings.code == 2 and "PRIVX_API_BASE_URL" in one_line_error(no_settings)


def running_with(data_dir) -> list[int]:
    """The processes whose command line names `data_dir` (the embedded server names it in argv)."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if str(data_dir) in (proc / "cmdline").read_bytes().decode(errors="replace"):
                    found.append(int(proc.name))
            except OSError:
                continue
    return found


def test_embedded_starts_the_reference_server_for_the_command_and_stops_it(cli_process, tmp_path):
    data_dir = tmp_path / "embedded"
    env = dict.fromkeys(
        (
            "PRIVX_API_BASE_URL",
            "PRIVX_API_CLIENT_ID",
            "PRIVX_API_CLIENT_SECRET",
            "PRIVX_API_OAUTH_CLIENT_ID",
            "PRIVX_API_OAUTH_CLIENT_SECRET",
        )
    )
    status = cli_process(
        "--embedded", str(data_dir), "--embedded-connections", "6000", "status", "--json", env=env
    )
    assert status.code == 0, status.stderr
    assert status.json()["base_url"].startswith("http://127.0.0.1:")
    assert "Starting the embedded reference server" in status.stderr
    counted = cli_process("--embedded", str(data_dir), "count", "--json", env=env)
    assert counted.json()["count"] == 6000, "the second command reuses the data dir"
    assert running_with(data_dir) == []


def test_train_wait_on_a_terminal_draws_a_progress_bar(reference_server, api, tmp_path):
    dataset_id = api.create_dataset(
        Dataset(time_range_settings=TimeRange(start=days_ago(60), end=days_ago(0)))
    )
    command = f"{shlex.quote(sys.executable)} -m ueba_api train {dataset_id} --wait --activate --interval 0.3"
    # `script` runs the command on a pseudo-terminal, as a person at a shell would.
    completed = subprocess.run(
        ["script", "-qec", command, "/dev/null"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
        env=process_environment(server_environment(reference_server)),
    )
    assert completed.returncode == 0, completed.stdout
    assert "\x1b[" in completed.stdout and "━" in completed.stdout  # drawn in place, with a bar
    assert "epoch" in completed.stdout and "succeeded after" in completed.stdout
    assert not any(secret in completed.stdout for secret in secrets_of(reference_server))
    try:
        assert api.get_dataset(dataset_id).is_active, "--activate: active once the run succeeded"
    finally:
        api.stop_analyzing()


def test_create_and_update_from_a_json_file_in_the_apis_shape(cli, api, tmp_path):
    shape = {
        "time_range_settings": {
            "start": days_ago(30),
            "end": days_ago(20),
            "exclude": [{"start": days_ago(26), "end": days_ago(25)}],
        },
        "comment": "From a file",
        "use_for_inference_once_trained": True,
    }
    path = tmp_path / "dataset.json"
    path.write_text(json.dumps(shape))
    created = cli("datasets", "create", "--from-file", str(path), "--json")
    assert created.code == 0, created.stderr
    dataset = api.get_dataset(created.json()["id"])
    assert dataset.to_request() == shape
    # Options given beside the file win; stdin works as the file.
    updated = cli(
        "datasets", "update", dataset.id, "--from-file", "-", "--comment", "Changed", stdin=json.dumps(shape)
    )
    assert updated.code == 0, updated.stderr
    assert api.get_dataset(dataset.id).comment == "Changed"
    path.write_text(
        json.dumps({**shape, "time_range_settings": {"start": days_ago(20), "end": days_ago(30)}})
    )
    reversed_range = cli("datasets", "create", "--from-file", str(path))
    assert reversed_range.code == 2 and "--from-file" in one_line_error(reversed_range)
    path.write_text("{not json")
    assert cli("datasets", "create", "--from-file", str(path)).code == 2


def test_the_command_as_a_user_runs_it(cli_process, api):
    """`python -m ueba_api` and the `ueba` script as processes: a normal command's JSON, and a usage error's
    exit code and one line as the shell gets them."""
    listed = cli_process("datasets", "list", "--json")
    assert listed.code == 0, listed.stderr
    listed_ids = [item["id"] for item in listed.json()["datasets"]]
    assert listed_ids == [item.id for item in api.list_datasets().items]
    refused = cli_process("count", "--start", "2026-13-01", command=script_command())
    assert refused.code == 2 and refused.stdout == ""
    assert "--start" in one_line_error(refused)


def read_all(descriptor: int) -> str:
    chunks = []
    while select.select([descriptor], [], [], 0.2)[0]:
        chunk = os.read(descriptor, 65536)
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks).decode()


def test_each_run_prints_for_the_stream_it_has(reference_server, tmp_path, monkeypatch):
    """Two runs in one process (a notebook's, or these tests'): on a terminal the names in `status` are
    dim, into a pipe there is no escape code, whatever stdout was when the CLI was imported."""
    for name in ("FORCE_COLOR", "NO_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    environment, secrets = server_environment(reference_server), secrets_of(reference_server)
    leader, follower = pty.openpty()
    try:
        with open(follower, "w", encoding="utf-8", closefd=False) as terminal:
            shown = run_cli(["status"], environment, secrets=secrets, cwd=tmp_path, terminal=terminal)
        drawn = read_all(leader)
    finally:
        os.close(leader)
        os.close(follower)
    assert shown.code == 0, shown.stderr
    assert "\x1b[2mVersion" in drawn and reference_server.base_url in drawn
    assert not any(secret in drawn for secret in secrets)
    piped = run_cli(["status"], environment, secrets=secrets, cwd=tmp_path)
    assert piped.code == 0 and "Version" in piped.stdout and "\x1b[" not in piped.stdout
