"""Importing real connection records (CSV, JSONL) through the command line, then serving and training
on them; bad files import nothing and say which record and column is wrong."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from ueba_api import Dataset, TimeRange
from ueba_server.cli import main
from ueba_server.generator import GeneratorSettings, generate_connections
from ueba_server.launch import PROJECT_ROOT, start_server

from .helpers import standby_workers, wait_for_training, wait_until

END = datetime(2025, 3, 1, tzinfo=UTC)


def records(count: int) -> pd.DataFrame:
    """Realistic records in the documented columns (generated, then written as an export would be)."""
    frame = pd.concat(
        list(generate_connections(GeneratorSettings(connections=count, days=60, end=END, seed=4)))
    )
    starts = pd.to_datetime(frame["start_us"], unit="us", utc=True)
    return pd.DataFrame(
        {
            "start_time": starts.dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "duration_seconds": frame["duration_seconds"],
            "user": frame["user"],
            "source_address": frame["source_address"],
            "target_host": frame["target_host"],
            "target_account": frame["target_account"],
            "protocol": frame["protocol"].str.lower(),
            "is_anomaly": frame["is_anomaly"],
        }
    ).reset_index(drop=True)


def run_import(data_dir: Path, *files: Path, replace: bool = False) -> subprocess.CompletedProcess[str]:
    """`python -m ueba_server import ...` as a user runs it, in a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "ueba_server", "import", *map(str, files), "--data-dir", str(data_dir)]
        + ["--replace"] * replace,
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        timeout=120,
    )


def refused_import(data_dir: Path, *files: Path, replace: bool = False) -> str:
    """The import command's entry point called in this process, for a refusal: the error line it exits
    with (what Python prints to stderr when `SystemExit` carries a message). Anything but that exit, an
    exception included, fails the test. The subprocess runs above show the command as a user sees it."""
    with pytest.raises(SystemExit) as exited:
        main(["import", *map(str, files), "--data-dir", str(data_dir)] + ["--replace"] * replace)
    assert isinstance(exited.value.code, str), "a refusal exits with its sentence (exit status 1)"
    return exited.value.code


def test_csv_and_jsonl_import_then_serve_count_and_train(tmp_path: Path) -> None:
    imported = records(7_000)
    csv_part, jsonl_part = imported.iloc[:4_000], imported.iloc[4_000:].copy()
    csv_part.to_csv(tmp_path / "part1.csv", index=False)
    # The JSONL export gives an end time instead of a duration, with an offset instead of Z.
    starts = pd.to_datetime(jsonl_part.pop("start_time"), utc=True)
    jsonl_part["start_time"] = starts.dt.strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")
    ends = starts + pd.to_timedelta(jsonl_part.pop("duration_seconds"), unit="s")
    jsonl_part["end_time"] = ends.dt.tz_convert("Europe/Helsinki").map(lambda moment: moment.isoformat())
    jsonl_part.to_json(tmp_path / "part2.jsonl", orient="records", lines=True)

    data_dir = tmp_path / "data"
    completed = run_import(data_dir, tmp_path / "part1.csv", tmp_path / "part2.jsonl")
    assert completed.returncode == 0, completed.stderr
    assert "Imported 7000 connections" in completed.stdout

    with start_server(data_dir, epochs=3) as server, server.client() as api:
        assert api.count_connections() == 7_000  # imported, not generated on top
        march = TimeRange(start=datetime(2025, 2, 1, tzinfo=UTC), end=END)
        expected = int((pd.to_datetime(imported["start_time"]) >= march.start).sum())
        assert api.count_connections(march) == expected
        dataset_id = api.create_dataset(Dataset(time_range_settings=TimeRange()))
        assert api.train_dataset(dataset_id) == 7_000
        result = wait_for_training(api, dataset_id)
        assert result.status == "SUCCESS", result.error_details

        # The worker standing by has read the 7,000 connections ahead of the next run. An import while it
        # waits changes the table: the next run trains on the table as it is now.
        wait_until(lambda: standby_workers(server.pid), 60, "no worker stood by")
        imported.iloc[:500].to_csv(tmp_path / "again.csv", index=False)
        assert run_import(data_dir, tmp_path / "again.csv").returncode == 0
        assert api.train_dataset(dataset_id) == 7_500
        assert wait_for_training(api, dataset_id).status == "SUCCESS"
        log = api.get_dataset(dataset_id, logs=True).latest_result.training_log
        assert "connections: 7500 (of 7500 in the dataset)" in log, log


def stored_connections(data_dir: Path) -> int:
    with sqlite3.connect(data_dir / "ueba.sqlite3") as connection:
        return connection.execute("SELECT COUNT(*) FROM connections").fetchone()[0]


@pytest.mark.parametrize(
    ("column", "record", "value", "message"),
    [
        ("target_account", None, None, "missing column(s): target_account"),
        ("duration_seconds", None, None, "missing column(s): duration_seconds or end_time"),
        ("start_time", 42, "soon", "record 42: start_time: not an RFC 3339 timestamp: 'soon'"),
        (
            "duration_seconds",
            10,
            -1,
            "record 10: duration_seconds: must give a duration of zero seconds or more",
        ),
        ("user", 1, " ", "record 1: user: must not be empty"),
        ("is_anomaly", 6, "perhaps", "record 6: is_anomaly: must be true or false"),
    ],
)
def test_a_bad_file_imports_nothing_and_names_record_and_column(
    tmp_path: Path, column: str, record: int | None, value: object, message: str
) -> None:
    good, bad = tmp_path / "good.csv", tmp_path / "bad.csv"
    frame = records(100)
    frame.to_csv(good, index=False)
    if record is None:
        frame = frame.drop(columns=column)
    else:
        frame[column] = frame[column].astype(object)
        frame.loc[record - 1, column] = value
    frame.to_csv(bad, index=False)
    data_dir = tmp_path / "data"
    assert refused_import(data_dir, good, bad) == f"error: {bad}: {message}"
    assert stored_connections(data_dir) == 0  # not even the good file


def test_unknown_file_type_is_refused(tmp_path: Path) -> None:
    (tmp_path / "records.xlsx").write_text("")
    completed = run_import(tmp_path / "data", tmp_path / "records.xlsx")  # as a user sees a refusal
    assert completed.returncode == 1 and "use .csv or .jsonl" in completed.stderr
    assert "Traceback" not in completed.stderr


def test_a_replacing_import_that_fails_midway_keeps_the_old_connections(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    old, new = records(100), records(60)
    old.to_csv(tmp_path / "old.csv", index=False)
    main(["import", str(tmp_path / "old.csv"), "--data-dir", str(data_dir)])
    # The new file is valid, but the database refuses its 30th record, as a full disk or an I/O error
    # would stop an import midway (a trigger is the test's way to make that happen at a known row).
    new.loc[29, "user"] = "refused-by-the-database"
    new.to_csv(tmp_path / "new.csv", index=False)
    with sqlite3.connect(data_dir / "ueba.sqlite3") as connection:
        connection.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON connections WHEN NEW.user = 'refused-by-the-database'"
            " BEGIN SELECT RAISE(ABORT, 'the disk is full'); END"
        )
    refusal = refused_import(data_dir, tmp_path / "new.csv", replace=True)
    with sqlite3.connect(data_dir / "ueba.sqlite3") as connection:
        users = [user for (user,) in connection.execute("SELECT user FROM connections ORDER BY id")]
    assert users == old["user"].tolist()  # all the old connections, none of the new
    assert refusal.endswith("the disk is full: nothing was imported or deleted")
