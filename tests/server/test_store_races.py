"""Two changes of the same dataset that meet, made deterministic: the store under test runs on a
Database that stops it just before a chosen statement and makes the competing change right there, on
another connection (as another API thread would), then lets it go on.

The competing side uses a busy timeout of 0: where the unit under test holds SQLite's write lock, the
competing change is refused at once ("database is locked") instead of waiting for a lock that the
paused thread can never release.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from ueba_server.database import Database
from ueba_server.dataset_store import DatasetConflict, DatasetNotFound, DatasetStore
from ueba_server.schemas import DatasetRequest

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
        super().__init__(path)
        self.stop_before = stop_before
        self.competing_change = competing_change
        self.fired = False
        self.outcome: Exception | None = None

    @contextmanager
    def connect(self, *args: object, **kwargs: object) -> Iterator[sqlite3.Connection]:
        with super().connect(*args, **kwargs) as connection:
            connection.set_trace_callback(self._trace)
            yield connection

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
    run = datasets.start_training(dataset_id, FEATURES, 10_000, set_active=False)
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
    store, pausing = paused_store(datasets, first_write, lambda: competing.delete(dataset_id))

    with pytest.raises(DatasetNotFound):
        store.start_training(dataset_id, FEATURES, 10_000, set_active=False)
    assert pausing.fired and pausing.outcome is None  # the delete went through first

    # A real second run of one dataset is still the conflict it always was.
    other = datasets.create(WHOLE_HISTORY, "tester")
    datasets.start_training(other, FEATURES, 10_000, set_active=False)
    with pytest.raises(DatasetConflict, match="Training is already on-going"):
        datasets.start_training(other, FEATURES, 10_000, set_active=False)


def test_listing_sees_one_snapshot_when_a_dataset_is_created_and_trained_meanwhile(
    datasets: DatasetStore, competing: DatasetStore
) -> None:
    existing = trained_dataset(datasets)
    created: list[str] = []

    def create_and_train() -> None:
        created.append(competing.create(WHOLE_HISTORY, "other"))
        competing.start_training(created[0], FEATURES, 10_000, set_active=False)

    store, pausing = paused_store(datasets, lambda sql: "FROM training_results" in sql, create_and_train)

    listed = store.list()  # was a KeyError (a 500): a result whose dataset the listing had not seen

    assert pausing.fired and pausing.outcome is None
    assert [item["id"] for item in listed] == [existing]
    assert [item["id"] for item in datasets.list()] == [existing, created[0]]
