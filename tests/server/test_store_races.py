"""Two changes of the same dataset that meet, made deterministic: the store under test runs on a
Database that stops it just before a chosen statement and makes the competing change right there, on
another connection (as another API thread would), then lets it go on.

The competing side uses a busy timeout of 0: where the unit under test holds SQLite's write lock, the
competing change is refused at once ("database is locked") instead of waiting for a lock that the
paused thread can never release.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from ueba_api.limits import MIN_TRAINING_CONNECTIONS
from ueba_server.config import FEATURE_CONFIG_NAME
from ueba_server.database import Database
from ueba_server.dataset_store import (
    DatasetConflict,
    DatasetNotFound,
    DatasetStore,
    StartedRun,
    TooManyTrainings,
)
from ueba_server.schemas import DatasetRequest, TimeRangeRequest

from .helpers import start_run

WHOLE_HISTORY = DatasetRequest.model_validate({"time_range_settings": {}, "comment": "whole history"})
NEW_DEFINITION = DatasetRequest.model_validate({"time_range_settings": {}, "comment": "redefined"})
FEATURES = "ueba-default-v1"


class PausingDatabase(Database):
    """Calls `competing_change` once, in the thread of the unit under test, just before the first
    statement for which `stop_before(sql)` is true begins (SQLite's trace hook fires before the
    statement takes any lock). What the change raised is kept in `outcome` (None: it went through)."""

    def __init__(
        self, path: Path, stop_before: Callable[[str], bool], competing_change: Callable[[], object]
    ) -> None:
        super().__init__(path, on_statement=self._trace)
        self.stop_before = stop_before
        self.competing_change = competing_change
        self.fired = False
        self.outcome: Exception | None = None

    def _trace(self, sql: str) -> None:
        if self.fired or not self.stop_before(sql.lstrip()):
            return
        self.fired = True
        try:
            self.competing_change()
        except Exception as error:  # sqlite3 swallows a trace callback's exceptions: keep it for the test
            self.outcome = error


def first_write(sql: str) -> bool:
    return sql.startswith(("INSERT", "UPDATE", "DELETE"))


@pytest.fixture
def database(tmp_path: Path) -> Database:
    database = Database(tmp_path / "ueba.sqlite3")
    database.initialise()
    return database


@pytest.fixture
def datasets(database: Database, tmp_path: Path) -> DatasetStore:
    return DatasetStore(database, tmp_path / "models")


@pytest.fixture
def competing(database: Database, tmp_path: Path) -> DatasetStore:
    """Another API thread's view of the same store, that never waits for a lock."""
    return DatasetStore(Database(database.path, busy_timeout=0), tmp_path / "models")


def paused_store(datasets: DatasetStore, stop_before: Callable[[str], bool], change: Callable[[], object]):
    database = PausingDatabase(datasets.database.path, stop_before, change)
    return DatasetStore(database, datasets.models_dir), database


def trained_dataset(datasets: DatasetStore) -> str:
    dataset_id = datasets.create(WHOLE_HISTORY, "tester")
    run = start_run(datasets, dataset_id)
    assert datasets.finish_success(run, np.linspace(0.0, 1.0, 500), "done")
    return dataset_id


def has_success(datasets: DatasetStore, dataset_id: str) -> bool:
    results = datasets.get(dataset_id)["training_results"]
    return any(result["status"] == "SUCCESS" for result in results)


@pytest.mark.parametrize("change", ["update", "delete"])
def test_start_analyzing_cannot_come_between_the_active_check_and_the_change(
    datasets: DatasetStore, competing: DatasetStore, change: str
) -> None:
    dataset_id = trained_dataset(datasets)
    store, pausing = paused_store(datasets, first_write, lambda: competing.activate(dataset_id))

    if change == "update":
        store.update(dataset_id, NEW_DEFINITION, "tester")
        # An active dataset must keep the SUCCESS it is analyzing with.
        assert not datasets.get(dataset_id)["is_active"], "the update emptied an active dataset's history"
        assert not has_success(datasets, dataset_id)
    else:
        store.delete(dataset_id)
        with pytest.raises(DatasetNotFound):
            datasets.get(dataset_id)
        # start-analyzing must not have answered OK for a dataset that was deleted right after.
        assert pausing.outcome is not None, "start-analyzing went through, then its dataset was deleted"
    assert pausing.fired
    # The change held the write lock from its check on: start-analyzing had to wait until it was done,
    # and then finds nothing to analyze with.
    assert isinstance(pausing.outcome, sqlite3.OperationalError), pausing.outcome
    with pytest.raises((DatasetConflict, DatasetNotFound)):
        competing.activate(dataset_id)


@pytest.mark.parametrize("change", ["update", "delete"])
def test_a_change_cannot_come_between_the_success_check_and_the_activation(
    datasets: DatasetStore, competing: DatasetStore, change: str
) -> None:
    dataset_id = trained_dataset(datasets)

    def competing_change() -> None:
        if change == "update":
            competing.update(dataset_id, NEW_DEFINITION, "other")
        else:
            competing.delete(dataset_id)

    store, pausing = paused_store(datasets, first_write, competing_change)

    store.activate(dataset_id)

    # start-analyzing answered OK: the dataset is active, still there, with the SUCCESS it was checked for.
    assert datasets.active_dataset_id() == dataset_id, "start-analyzing succeeded on a dataset that is gone"
    assert has_success(datasets, dataset_id), "an active dataset lost its training history"
    assert pausing.fired
    assert isinstance(pausing.outcome, sqlite3.OperationalError), pausing.outcome
    with pytest.raises(DatasetConflict, match="stop analyzing first"):  # now the change is refused properly
        competing_change()


def test_a_dataset_deleted_before_its_training_starts_is_not_found_not_a_conflict(
    datasets: DatasetStore, competing: DatasetStore
) -> None:
    dataset_id = datasets.create(WHOLE_HISTORY, "tester")
    store, pausing = paused_store(
        datasets, lambda sql: sql.startswith("BEGIN"), lambda: competing.delete(dataset_id)
    )

    with pytest.raises(DatasetNotFound):
        start_run(store, dataset_id)
    assert pausing.fired and pausing.outcome is None  # the delete went through first

    # A real second run of one dataset is still the conflict it always was.
    other = datasets.create(WHOLE_HISTORY, "tester")
    start_run(datasets, other)
    with pytest.raises(DatasetConflict, match="Training is already on-going"):
        start_run(datasets, other)


# A PUT racing a POST /train: the dataset's range becomes one of 303 connections (the probe's figure).
NARROW = DatasetRequest.model_validate(
    {"time_range_settings": {"start": "2026-01-01T00:00:00Z", "end": "2026-01-02T00:00:00Z"}}
)
def count_range(time_range: TimeRangeRequest) -> int:
    return 303 if time_range == NARROW.time_range_settings else 20_000


def start_counted(store: DatasetStore, dataset_id: str, **options: object) -> StartedRun:
    return store.start_training(
        dataset_id, FEATURE_CONFIG_NAME, False, count=count_range, connection_limit=300_000, **options
    )


@pytest.mark.parametrize("pause_before", ["BEGIN", "SELECT", "INSERT", "UPDATE", "COMMIT"])
def test_a_put_racing_a_train_never_leaves_a_run_on_an_unchecked_range(
    datasets: DatasetStore, competing: DatasetStore, pause_before: str
) -> None:
    """The PUT comes at every statement of the train's transaction (and once it committed). Whatever the
    order, a run that is TRAINING was counted on the very range its worker reads (`run_time_range`),
    that range is the dataset's definition now, and it holds enough connections."""
    dataset_id = datasets.create(WHOLE_HISTORY, "tester")
    removed: list[int] = []
    store, pausing = paused_store(
        datasets,
        lambda sql: sql.startswith(pause_before),
        lambda: removed.extend(competing.update(dataset_id, NARROW, "other")),
    )

    run = start_counted(store, dataset_id)
    if not pausing.fired:  # no such statement in this transaction: the PUT comes right after it
        removed.extend(datasets.update(dataset_id, NARROW, "other"))

    results = {result["status"]: result for result in datasets.get(dataset_id)["training_results"]}
    training = results.get("TRAINING")
    if training is None:
        # Either the PUT removed the run (its worker is stopped by id), or the run counted the new range.
        assert run.result_id in removed or results["FAILURE"]["error_code"] == "NOT_ENOUGH_CONNECTIONS"
    else:
        assert run.result_id not in removed
        trained_on = datasets.run_time_range(run.result_id)
        assert training["num_connections"] == count_range(trained_on) >= MIN_TRAINING_CONNECTIONS
        definition = TimeRangeRequest.model_validate(datasets.get(dataset_id)["time_range_settings"])
        assert trained_on == definition, "a run trains on a range that is no longer the dataset's"
    if pause_before in ("SELECT", "INSERT", "UPDATE") and pausing.fired:
        # Inside the train's write transaction the PUT cannot come in at all.
        assert isinstance(pausing.outcome, sqlite3.OperationalError), pausing.outcome


def test_a_run_whose_dataset_changed_has_no_range_to_train_on(datasets: DatasetStore) -> None:
    dataset_id = datasets.create(WHOLE_HISTORY, "tester")
    run = start_counted(datasets, dataset_id)
    assert datasets.run_time_range(run.result_id) == WHOLE_HISTORY.time_range_settings
    assert datasets.update(dataset_id, NARROW, "other") == [run.result_id]
    with pytest.raises(LookupError):
        datasets.run_time_range(run.result_id)  # the worker stops instead of training on NARROW


class BarrierDatabase(Database):
    """Holds every thread at the start of its transaction until `parties` threads are there, so that
    they all compete for SQLite's write lock at the same moment."""

    def __init__(self, path: Path, parties: int) -> None:
        super().__init__(path, on_statement=self._trace)
        self.barrier = threading.Barrier(parties, timeout=30)

    def _trace(self, sql: str) -> None:
        if sql.startswith("BEGIN"):
            self.barrier.wait()


def simultaneously(calls: list[Callable[[], object]]) -> list[object]:
    """Runs the calls at once, one thread each; what each returned or raised."""

    def outcome(call: Callable[[], object]) -> object:
        try:
            return call()
        except Exception as error:
            return error

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(outcome, calls))


def test_twenty_simultaneous_trains_start_exactly_one_run(datasets: DatasetStore) -> None:
    dataset_id = datasets.create(WHOLE_HISTORY, "tester")
    store = DatasetStore(BarrierDatabase(datasets.database.path, 20), datasets.models_dir)

    outcomes = simultaneously([lambda: start_counted(store, dataset_id)] * 20)

    started = [outcome for outcome in outcomes if isinstance(outcome, StartedRun)]
    refused = [outcome for outcome in outcomes if isinstance(outcome, DatasetConflict)]
    assert (len(started), len(refused)) == (1, 19), outcomes
    assert [result["status"] for result in datasets.get(dataset_id)["training_results"]] == ["TRAINING"]


def test_the_cap_of_concurrent_trainings_holds_for_simultaneous_trains(datasets: DatasetStore) -> None:
    dataset_ids = [datasets.create(WHOLE_HISTORY, "tester") for _ in range(20)]
    store = DatasetStore(BarrierDatabase(datasets.database.path, 20), datasets.models_dir)

    outcomes = simultaneously([lambda d=d: start_counted(store, d, max_running=2) for d in dataset_ids])

    started = [outcome for outcome in outcomes if isinstance(outcome, StartedRun)]
    refused = [outcome for outcome in outcomes if isinstance(outcome, TooManyTrainings)]
    assert (len(started), len(refused)) == (2, 18), outcomes
    assert str(refused[0]) == (
        "2 trainings are running and this server runs at most 2 at a time: train again when one has ended"
    )
    statuses = [result["status"] for item in datasets.list() for result in item["training_results"]]
    assert statuses.count("TRAINING") == 2
    # A run that ends makes room; a dataset already training is a conflict, not over the cap.
    assert datasets.finish_failure(started[0].result_id, "TEST", "ended")
    with pytest.raises(DatasetConflict):
        start_counted(datasets, started[1].dataset_id, max_running=2)
    waiting = next(d for d in dataset_ids if d not in {run.dataset_id for run in started})
    start_counted(datasets, waiting, max_running=2)


def test_listing_sees_one_snapshot_when_a_dataset_is_created_and_trained_meanwhile(
    datasets: DatasetStore, competing: DatasetStore
) -> None:
    existing = trained_dataset(datasets)
    created: list[str] = []

    def create_and_train() -> None:
        created.append(competing.create(WHOLE_HISTORY, "other"))
        start_run(competing, created[0])

    store, pausing = paused_store(datasets, lambda sql: "FROM training_results" in sql, create_and_train)

    listed = store.list()  # was a KeyError (a 500): a result whose dataset the listing had not seen

    assert pausing.fired and pausing.outcome is None
    assert [item["id"] for item in listed] == [existing]
    assert [item["id"] for item in datasets.list()] == [existing, created[0]]
