"""Datasets and their training results in SQLite, shaped as the contract's objects.

Each result keeps its per-connection validation losses (float32 BLOB), so that a read re-bins them into
any `bin_count`; the re-binned histograms are cached (see HistogramCache). A training worker (another
process) writes its progress through the same class; every write of a run is conditional on the run still
being TRAINING, so a run that was cancelled or declared interrupted can never come back to life.

A change guarded by a check (only an inactive dataset may change, only a trained one be activated, a
run starts only on a range with enough connections and under the cap of concurrent runs) takes the
write lock before the check (`Begin.IMMEDIATE`): API threads run concurrently, and a check read outside
the write transaction may be stale by the time of the write. A run stores the range it was checked on;
its worker trains on that range (`run_time_range`), never on the dataset's current one.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from ueba_api.limits import DEFAULT_HISTOGRAM_BINS, MIN_TRAINING_CONNECTIONS
from ueba_api.models import TrainingStatus, format_utc
from ueba_server.config import HISTOGRAM_CACHE_SIZE
from ueba_server.database import Begin, Database
from ueba_server.preconditions import UNCONDITIONAL, Precondition
from ueba_server.schemas import DatasetRequest, TimeRangeRequest


class DatasetNotFound(Exception):
    def __init__(self, dataset_id: str) -> None:
        super().__init__(f"Dataset {dataset_id} not found")


class DatasetConflict(Exception):
    """The change conflicts with the dataset's state (409)."""


class StaleWrite(Exception):
    """A conditional write (If-Match / If-Unmodified-Since) of a dataset changed since (412)."""

    def __init__(self, dataset_id: str, header: str, updated: str) -> None:
        super().__init__(
            f"Dataset {dataset_id} was changed at {updated}, after the version this {header} names:"
            " read it again before changing it"
        )
        self.header = header


class TooManyTrainings(Exception):
    """As many runs as the server allows are TRAINING (429): the same call succeeds once one ends."""

    retry_after_seconds = 10

    def __init__(self, running: int, cap: int) -> None:
        super().__init__(
            f"{running} trainings are running and this server runs at most {cap} at a time:"
            " train again when one has ended"
        )


@dataclass(frozen=True)
class StartedRun:
    """A run as its start transaction fixed it: the range it trains on and how many connections."""

    result_id: int
    dataset_id: str
    time_range: TimeRangeRequest
    available: int  # connections in the range
    count: int  # connections the run uses (a bigger range is sampled)

    @property
    def has_enough(self) -> bool:
        return self.count >= MIN_TRAINING_CONNECTIONS


def not_enough_connections(count: int) -> str:
    return (
        f"The dataset has {count:,} connections but a training needs at least {MIN_TRAINING_CONNECTIONS:,}:"
        " widen the time range or exclude less"
    )


TRAINING_ONGOING = "Training is already on-going"
CANONICAL_RANGES_KEY = "time_ranges_in_wire_form"
# What a listing reads of a result: not the losses (a histogram may be cached) and the log only if asked.
_RESULT_COLUMNS = (
    "id, dataset_id, created, feature_config_name, status, error_code, error_details, num_connections,"
    " mean, std, quantile_99, quantile_999, training_dataset_loss, validation_dataset_loss,"
    " validation_losses IS NOT NULL AS has_losses, default_histogram"
)
_FAILURE_ASSIGNMENTS = (
    "status = 'FAILURE', finished = ?, error_code = ?, error_details = ?, training_log = training_log || ?"
)


def _failure_parameters(error_code: str, error_details: str) -> tuple[str, str, str, str]:
    """The values of `_FAILURE_ASSIGNMENTS`: when it ended, why, and the log line that says so."""
    return utc_now(), error_code, error_details, f"FAILURE: {error_details}\n"


def utc_now() -> str:
    return format_utc(datetime.now(UTC))


HistogramWire = dict[str, list[float]]


class HistogramCache:
    """Re-binned validation-loss histograms by (result id, bin count), least recently used out.

    An entry cannot go stale: only a SUCCESS has losses, they never change afterwards, and result ids
    are never reused (AUTOINCREMENT). Deleted results are dropped all the same, to free the room.
    `size` 0 turns caching off. Thread-safe: the API serves requests on a thread pool.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self.hits = self.misses = 0
        self._entries: OrderedDict[tuple[int, int], tuple[tuple[int, ...], tuple[float, ...]]] = (
            OrderedDict()
        )
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: tuple[int, int]) -> HistogramWire | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                self.misses += 1
                return None
            self.hits += 1
            self._entries.move_to_end(key)
        return _histogram(*entry)

    def put(self, key: tuple[int, int], counts: np.ndarray, edges: np.ndarray) -> HistogramWire:
        # Kept as tuples, handed out as fresh lists: no caller can change what the next one gets.
        entry = (tuple(counts.tolist()), tuple(edges.tolist()))
        if self.size > 0:
            with self._lock:
                self._entries[key] = entry
                self._entries.move_to_end(key)
                while len(self._entries) > self.size:
                    self._entries.popitem(last=False)
        return _histogram(*entry)

    def drop(self, result_ids: list[int]) -> None:
        gone = set(result_ids)
        with self._lock:
            for key in [key for key in self._entries if key[0] in gone]:
                del self._entries[key]


class DatasetStore:
    def __init__(
        self, database: Database, models_dir: Path, *, histogram_cache_size: int = HISTOGRAM_CACHE_SIZE
    ) -> None:
        self.database = database
        self.models_dir = models_dir
        self.histograms = HistogramCache(histogram_cache_size)

    # Datasets

    def create(self, request: DatasetRequest, caller: str) -> str:
        dataset_id = str(uuid.uuid4())
        now = utc_now()
        with self.database.connect() as connection:
            connection.execute(
                "INSERT INTO datasets (id, time_range, comment, use_for_inference_once_trained, created,"
                " created_by, updated, updated_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (dataset_id, _time_range_json(request), request.comment,
                 request.use_for_inference_once_trained, now, caller, now, caller),
            )  # fmt: skip
        return dataset_id

    def update(
        self,
        dataset_id: str,
        request: DatasetRequest,
        caller: str,
        precondition: Precondition = UNCONDITIONAL,
    ) -> list[int]:
        """Replaces the definition and empties the training history (weights included).

        Returns the ids of the removed runs (a TRAINING one among them has a worker to stop).
        """
        with self.database.connect(Begin.IMMEDIATE) as connection:
            self._require_changeable(connection, dataset_id, "updated", precondition)
            result_ids = self._result_ids(connection, dataset_id)
            connection.execute("DELETE FROM training_results WHERE dataset_id = ?", (dataset_id,))
            connection.execute(
                "UPDATE datasets SET time_range = ?, comment = ?, use_for_inference_once_trained = ?,"
                " last_training = NULL, updated = ?, updated_by = ? WHERE id = ?",
                (_time_range_json(request), request.comment, request.use_for_inference_once_trained,
                 utc_now(), caller, dataset_id),
            )  # fmt: skip
        self._forget_results(result_ids)
        return result_ids

    def delete(self, dataset_id: str, precondition: Precondition = UNCONDITIONAL) -> list[int]:
        """Deletes the dataset and its runs; returns the removed runs' ids, as `update` does."""
        with self.database.connect(Begin.IMMEDIATE) as connection:
            self._require_changeable(connection, dataset_id, "deleted", precondition)
            result_ids = self._result_ids(connection, dataset_id)
            connection.execute("DELETE FROM datasets WHERE id = ?", (dataset_id,))
        self._forget_results(result_ids)
        return result_ids

    def get(
        self, dataset_id: str, *, logs: bool = False, bin_count: int = DEFAULT_HISTOGRAM_BINS
    ) -> dict[str, Any]:
        with self.database.connect(Begin.SNAPSHOT) as connection:
            row = self._dataset_row(connection, dataset_id)
            results = self._results(connection, "WHERE dataset_id = ?", (dataset_id,), logs, bin_count)
        return _dataset(row, results)

    def list(self, *, logs: bool = False, bin_count: int = DEFAULT_HISTOGRAM_BINS) -> list[dict[str, Any]]:
        # One snapshot: a dataset created and trained between two plain reads would have results here
        # but no row.
        with self.database.connect(Begin.SNAPSHOT) as connection:
            rows = connection.execute("SELECT * FROM datasets ORDER BY created, id").fetchall()
            results = self._results(connection, "", (), logs, bin_count)
        by_dataset: dict[str, list[dict[str, Any]]] = {row["id"]: [] for row in rows}
        for result in results:
            by_dataset[result["dataset_id"]].append(result)
        return [_dataset(row, by_dataset[row["id"]]) for row in rows]

    def exists(self) -> bool:
        with self.database.connect() as connection:
            return connection.execute("SELECT 1 FROM datasets LIMIT 1").fetchone() is not None

    def time_range(self, dataset_id: str) -> TimeRangeRequest:
        with self.database.connect() as connection:
            row = self._dataset_row(connection, dataset_id)
        return TimeRangeRequest.model_validate_json(row["time_range"])

    def run_time_range(self, result_id: int) -> TimeRangeRequest:
        """The range a run was checked on when it started, which its worker trains on.

        LookupError once the run is gone (its dataset changed or was deleted: the worker stops).
        """
        with self.database.connect() as connection:
            row = connection.execute(
                "SELECT time_range FROM training_results WHERE id = ?", (result_id,)
            ).fetchone()
        if row is None or row["time_range"] is None:
            raise LookupError(f"Training result {result_id} no longer exists")
        return TimeRangeRequest.model_validate_json(row["time_range"])

    def activate(self, dataset_id: str) -> None:
        with self.database.connect(Begin.IMMEDIATE) as connection:
            self._dataset_row(connection, dataset_id)
            succeeded = connection.execute(
                "SELECT 1 FROM training_results WHERE dataset_id = ? AND status = 'SUCCESS'", (dataset_id,)
            ).fetchone()
            if succeeded is None:
                raise DatasetConflict(
                    f"Dataset {dataset_id} has no successful training: train it before analyzing with it"
                )
            _make_active(connection, dataset_id)

    def deactivate(self) -> None:
        with self.database.connect() as connection:
            connection.execute("UPDATE datasets SET is_active = 0 WHERE is_active = 1")

    def active_dataset_id(self) -> str | None:
        with self.database.connect() as connection:
            row = connection.execute("SELECT id FROM datasets WHERE is_active = 1").fetchone()
        return None if row is None else row["id"]

    def latest_results(self) -> list[dict[str, Any]]:
        """The newest result of each dataset: id, dataset, feature set, status, created."""
        with self.database.connect() as connection:
            rows = connection.execute(
                "SELECT CAST(id AS TEXT) AS id, dataset_id, feature_config_name, status, created"
                " FROM training_results"
                " WHERE id IN (SELECT MAX(id) FROM training_results GROUP BY dataset_id) ORDER BY id"
            ).fetchall()
        return [dict(row) for row in rows]

    # Training results

    def start_training(
        self,
        dataset_id: str,
        feature_config_name: str,
        set_active: bool,
        *,
        count: Callable[[TimeRangeRequest], int],
        connection_limit: int,
        max_running: int | None = None,
    ) -> StartedRun:
        """A new run of the dataset's range as it is now, counted by `count`, in ONE write transaction.

        The range is stored with the run and is what its worker trains on: a PUT that comes after this
        transaction removes the run, one that came before changed the range counted here. A range with
        fewer than MIN_TRAINING_CONNECTIONS makes the run a FAILURE in that same transaction.
        Raises DatasetNotFound; DatasetConflict when a run of the dataset is TRAINING (the unique index
        one_training_per_dataset); TooManyTrainings when `max_running` runs are TRAINING.
        """
        with self.database.connect(Begin.IMMEDIATE) as connection:
            row = self._dataset_row(connection, dataset_id)
            time_range = TimeRangeRequest.model_validate_json(row["time_range"])
            if max_running is not None:
                (running,) = connection.execute(
                    "SELECT COUNT(*) FROM training_results WHERE status = 'TRAINING' AND dataset_id != ?",
                    (dataset_id,),
                ).fetchone()
                if running >= max_running:
                    raise TooManyTrainings(running, max_running)
            available = count(time_range)
            used = min(available, connection_limit)
            try:
                cursor = connection.execute(
                    "INSERT INTO training_results (dataset_id, created, feature_config_name, status,"
                    " num_connections, set_active, time_range) VALUES (?, ?, ?, 'TRAINING', ?, ?, ?)",
                    (dataset_id, utc_now(), feature_config_name, used, set_active, row["time_range"]),
                )
            except sqlite3.IntegrityError as error:
                if error.sqlite_errorname == "SQLITE_CONSTRAINT_UNIQUE":
                    raise DatasetConflict(TRAINING_ONGOING) from error
                raise
            run = StartedRun(int(cursor.lastrowid), dataset_id, time_range, available, used)
            if not run.has_enough:
                connection.execute(
                    f"UPDATE training_results SET {_FAILURE_ASSIGNMENTS} WHERE id = ?",
                    (*_failure_parameters("NOT_ENOUGH_CONNECTIONS", not_enough_connections(used)),
                     run.result_id),
                )
        return run

    def record_epoch(
        self, result_id: int, training_loss: float, validation_loss: float, log_line: str
    ) -> bool:
        """Appends one epoch's losses; False when the run is no longer TRAINING (stop then)."""
        return self._update_running(
            result_id,
            "training_dataset_loss = json_insert(training_dataset_loss, '$[#]', ?),"
            " validation_dataset_loss = json_insert(validation_dataset_loss, '$[#]', ?),"
            " training_log = training_log || ?",
            (training_loss, validation_loss, log_line + "\n"),
        )

    def append_log(self, result_id: int, log_line: str) -> bool:
        return self._update_running(result_id, "training_log = training_log || ?", (log_line + "\n",))

    def finish_success(self, result_id: int, validation_losses: np.ndarray, log_line: str) -> bool:
        """Stores the losses and their statistics; activates the dataset if that was asked for."""
        losses = validation_losses.astype(np.float32)
        exact = losses.astype(np.float64)  # statistics of the very values the histogram will bin
        # The default histogram is stored with the run: listings at the default bin count never re-bin.
        counts, edges = np.histogram(exact, bins=DEFAULT_HISTOGRAM_BINS)
        default_histogram = json.dumps(_histogram(tuple(counts.tolist()), tuple(edges.tolist())))
        with self.database.connect() as connection:
            changed = connection.execute(
                "UPDATE training_results SET status = 'SUCCESS', finished = ?, mean = ?, std = ?,"
                " quantile_99 = ?, quantile_999 = ?, validation_losses = ?, default_histogram = ?,"
                " training_log = training_log || ? WHERE id = ? AND status = 'TRAINING'",
                (utc_now(), float(exact.mean()), float(exact.std()), float(np.quantile(exact, 0.99)),
                 float(np.quantile(exact, 0.999)), losses.tobytes(), default_histogram, log_line + "\n",
                 result_id),
            ).rowcount  # fmt: skip
            if not changed:
                return False
            row = connection.execute(
                "SELECT r.dataset_id, r.set_active, d.use_for_inference_once_trained AS once_trained"
                " FROM training_results r JOIN datasets d ON d.id = r.dataset_id WHERE r.id = ?",
                (result_id,),
            ).fetchone()
            connection.execute(
                "UPDATE datasets SET last_training = ? WHERE id = ?", (utc_now(), row["dataset_id"])
            )
            if row["set_active"] or row["once_trained"]:
                _make_active(connection, row["dataset_id"])
        return True

    def finish_failure(self, result_id: int, error_code: str, error_details: str) -> bool:
        parameters = _failure_parameters(error_code, error_details)
        return self._update_running(result_id, _FAILURE_ASSIGNMENTS, parameters)

    def canonicalise_time_ranges(self) -> None:
        """Rewrites stored ranges in the wire form (`...Z`, fractions only if any), as answers send them
        unchanged: a store written by an older version held `2024-03-01T00:00:00.250000Z`."""
        if self.database.get_setting(CANONICAL_RANGES_KEY):
            return  # done once per store: every later write stores the wire form
        with self.database.connect(Begin.IMMEDIATE) as connection:
            connection.execute(
                "INSERT OR REPLACE INTO settings (key, value) VALUES (?, 'true')", (CANONICAL_RANGES_KEY,)
            )
            for table in ("datasets", "training_results"):
                rows = connection.execute(f"SELECT id, time_range FROM {table} WHERE time_range IS NOT NULL")
                for row in rows.fetchall():
                    canonical = TimeRangeRequest.model_validate_json(row["time_range"]).model_dump_json()
                    if canonical != row["time_range"]:
                        connection.execute(
                            f"UPDATE {table} SET time_range = ? WHERE id = ?", (canonical, row["id"])
                        )

    def fail_unfinished(self, error_code: str, error_details: str) -> int:
        """Every run still TRAINING becomes a FAILURE (their workers are gone); returns how many."""
        with self.database.connect() as connection:
            return connection.execute(
                f"UPDATE training_results SET {_FAILURE_ASSIGNMENTS} WHERE status = 'TRAINING'",
                _failure_parameters(error_code, error_details),
            ).rowcount

    def result_outcome(self, result_id: int) -> tuple[str, str | None, int] | None:
        """A result's status, error code and epochs done; None once the result was deleted."""
        with self.database.connect() as connection:
            row = connection.execute(
                "SELECT status, error_code, json_array_length(validation_dataset_loss) AS epochs"
                " FROM training_results WHERE id = ?",
                (result_id,),
            ).fetchone()
        return None if row is None else (row["status"], row["error_code"], row["epochs"])

    def latest_success_id(self, dataset_id: str) -> int | None:
        with self.database.connect() as connection:
            row = connection.execute(
                "SELECT MAX(id) AS id FROM training_results WHERE dataset_id = ? AND status = 'SUCCESS'",
                (dataset_id,),
            ).fetchone()
        return row["id"]

    def weights_path(self, result_id: int) -> Path:
        return self.models_dir / f"result-{result_id}.joblib"

    def remove_uncommitted_weights(self) -> int:
        """Deletes weight files of runs that are not SUCCESS (never committed, or gone); returns how many.

        A worker saves its weights before the SUCCESS that commits them: one killed in between, or a run
        removed meanwhile, leaves a file no run owns. For start-up, when no worker runs.
        """
        with self.database.connect() as connection:
            committed = {
                row["id"]
                for row in connection.execute("SELECT id FROM training_results WHERE status = 'SUCCESS'")
            }
        removed = 0
        for path in self.models_dir.glob("result-*.joblib*"):
            result_id = path.name.removeprefix("result-").split(".", 1)[0]
            if not (result_id.isdigit() and int(result_id) in committed and path.suffix == ".joblib"):
                path.unlink(missing_ok=True)
                removed += 1
        return removed

    # Helpers

    def _results(
        self,
        connection: sqlite3.Connection,
        where: str,
        parameters: tuple[Any, ...],
        logs: bool,
        bin_count: int,
    ) -> list[dict[str, Any]]:
        """The results `where` selects, oldest first, each with its histogram of `bin_count` bins."""
        log_column = "training_log" if logs else "NULL AS training_log"
        rows = connection.execute(
            f"SELECT {_RESULT_COLUMNS}, {log_column} FROM training_results {where} ORDER BY id", parameters
        ).fetchall()
        histograms: dict[int, HistogramWire] = {}
        missing: dict[int, tuple[int, int]] = {}
        for row in rows:
            if row["has_losses"] and bin_count == DEFAULT_HISTOGRAM_BINS and row["default_histogram"]:
                histograms[row["id"]] = orjson.loads(row["default_histogram"])
            elif row["has_losses"]:
                key = (row["id"], bin_count)
                cached = self.histograms.get(key)
                if cached is None:
                    missing[row["id"]] = key
                else:
                    histograms[row["id"]] = cached
        if missing:
            # Only the losses of the histograms not cached, in the same snapshot as the rows.
            losses = connection.execute(
                "SELECT id, validation_losses FROM training_results"
                " WHERE id IN (SELECT value FROM json_each(?))",
                (json.dumps(list(missing)),),
            )
            for result_id, blob in losses:
                values = np.frombuffer(blob, dtype=np.float32).astype(np.float64)
                counts, edges = np.histogram(values, bins=bin_count)
                histograms[result_id] = self.histograms.put(missing[result_id], counts, edges)
        return [_result(row, histograms.get(row["id"])) for row in rows]

    def _update_running(self, result_id: int, assignments: str, parameters: tuple[Any, ...]) -> bool:
        with self.database.connect() as connection:
            cursor = connection.execute(
                f"UPDATE training_results SET {assignments} WHERE id = ? AND status = 'TRAINING'",
                (*parameters, result_id),
            )
        return cursor.rowcount == 1

    @staticmethod
    def _dataset_row(connection: sqlite3.Connection, dataset_id: str) -> sqlite3.Row:
        row = connection.execute("SELECT * FROM datasets WHERE id = ?", (dataset_id,)).fetchone()
        if row is None:
            raise DatasetNotFound(dataset_id)
        return row

    def _require_changeable(
        self, connection: sqlite3.Connection, dataset_id: str, change: str, precondition: Precondition
    ) -> None:
        row = self._dataset_row(connection, dataset_id)
        failed = precondition.failed_header(row["updated"])
        if failed is not None:
            raise StaleWrite(dataset_id, failed, row["updated"])
        if row["is_active"]:
            raise DatasetConflict(
                f"Dataset {dataset_id} is active and cannot be {change}: stop analyzing first"
            )

    @staticmethod
    def _result_ids(connection: sqlite3.Connection, dataset_id: str) -> list[int]:
        rows = connection.execute("SELECT id FROM training_results WHERE dataset_id = ?", (dataset_id,))
        return [row["id"] for row in rows]

    def _forget_results(self, result_ids: list[int]) -> None:
        """After the results' rows are gone: their weights and cached histograms go too."""
        for result_id in result_ids:
            self.weights_path(result_id).unlink(missing_ok=True)
        self.histograms.drop(result_ids)


def _make_active(connection: sqlite3.Connection, dataset_id: str) -> None:
    connection.execute("UPDATE datasets SET is_active = 0 WHERE is_active = 1 AND id != ?", (dataset_id,))
    connection.execute("UPDATE datasets SET is_active = 1 WHERE id = ?", (dataset_id,))


def _time_range_json(request: DatasetRequest) -> str:
    return request.time_range_settings.model_dump_json()


def _dataset(row: sqlite3.Row, results: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "last_training": row["last_training"],
        "is_active": bool(row["is_active"]),
        "use_for_inference_once_trained": bool(row["use_for_inference_once_trained"]),
        "time_range_settings": orjson.loads(row["time_range"]),
        "training_results": results,
        "comment": row["comment"],
        "created": row["created"],
        "created_by": row["created_by"],
        "updated": row["updated"],
        "updated_by": row["updated_by"],
    }


def _histogram(counts: tuple[int, ...], edges: tuple[float, ...]) -> HistogramWire:
    return {"hist": list(counts), "bin_edges": list(edges)}


def _result(row: sqlite3.Row, histogram: HistogramWire | None) -> dict[str, Any]:
    return {
        "created": row["created"],
        "feature_config_name": row["feature_config_name"],
        "status": TrainingStatus(row["status"]).value,
        "error_code": row["error_code"],
        "error_details": row["error_details"],
        "num_connections": row["num_connections"],
        "mean": row["mean"],
        "std": row["std"],
        "quantile_99": row["quantile_99"],
        "quantile_999": row["quantile_999"],
        "training_log": row["training_log"],
        "training_dataset_loss": orjson.loads(row["training_dataset_loss"]),
        "validation_dataset_loss": orjson.loads(row["validation_dataset_loss"]),
        "validation_dataset_histogram": histogram,
        "dataset_id": row["dataset_id"],
    }
