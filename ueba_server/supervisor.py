"""Starts training runs in worker processes (spawned: no state is forked from the threaded server) and
watches them, so that a worker that dies without a word still leaves a FAILURE behind."""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from multiprocessing.process import BaseProcess

from ueba_api.limits import MIN_TRAINING_CONNECTIONS
from ueba_server.config import FEATURE_CONFIG_NAME, MAX_TRAINING_CONNECTIONS, ServerConfig
from ueba_server.connections import ConnectionCounter, Window
from ueba_server.dataset_store import DatasetStore
from ueba_server.errors import ApiError
from ueba_server.training_job import TrainingJob
from ueba_server.worker import run_training_job

logger = logging.getLogger("ueba_server")


class TrainingSupervisor:
    def __init__(self, config: ServerConfig, store: DatasetStore, counter: ConnectionCounter) -> None:
        self.config = config
        self.store = store
        self.counter = counter
        self._context = multiprocessing.get_context("spawn")
        self._lock = threading.Lock()
        self._workers: dict[str, tuple[int, BaseProcess]] = {}

    def start(self, dataset_id: str, set_active: bool) -> int:
        """Starts a run of the dataset and returns how many connections it uses (a bigger dataset is sampled).

        Raises DatasetNotFound, or DatasetConflict when a run of the dataset is already going on; ApiError
        (500) when no worker process can be started, after recording the run as a FAILURE.
        """
        started = time.monotonic()
        available = self.counter.count(Window.from_request(self.store.time_range(dataset_id)))
        count = min(available, MAX_TRAINING_CONNECTIONS)
        result_id = self.store.start_training(dataset_id, FEATURE_CONFIG_NAME, count, set_active)
        if count < MIN_TRAINING_CONNECTIONS:
            self.store.finish_failure(
                result_id,
                "NOT_ENOUGH_CONNECTIONS",
                f"The dataset has {count:,} connections but a training needs at least "
                f"{MIN_TRAINING_CONNECTIONS:,}:"
                " widen the time range or exclude less",
            )
            self._log_end(dataset_id, result_id, started)
            return count
        job = TrainingJob(
            database_path=self.config.database_path,
            models_dir=self.config.models_dir,
            result_id=result_id,
            dataset_id=dataset_id,
            epochs=self.config.epochs,
            # Each run its own seed, as a real engine's random initialisation: retraining a dataset
            # shows the run-to-run spread a reviewer compares, and a store still replays the same.
            seed=self.config.seed + result_id,
            server_pid=os.getpid(),
            connection_limit=MAX_TRAINING_CONNECTIONS,
            available_connections=available,
        )
        process = self._context.Process(
            target=run_training_job, args=(job,), name=f"ueba-training-{result_id}"
        )
        process.daemon = True
        try:
            process.start()
        except Exception as error:
            # Without a worker nobody would ever end this run, and the dataset would refuse every
            # training (409) until a restart: it ends here, as a FAILURE that says why.
            logger.exception("Training result %s: the worker process could not be started", result_id)
            self.store.finish_failure(
                result_id,
                "WORKER_START_FAILED",
                f"The training worker process could not be started ({type(error).__name__}: {error}):"
                " see the server log, then train the dataset again",
            )
            self._log_end(dataset_id, result_id, started)
            raise ApiError(
                500, "The training worker process could not be started: see the server log"
            ) from error
        with self._lock:
            self._workers[dataset_id] = (result_id, process)
        threading.Thread(
            target=self._watch, args=(dataset_id, result_id, process, started), daemon=True
        ).start()
        return count

    def is_training(self) -> bool:
        with self._lock:
            return bool(self._workers)

    def stop_worker(self, dataset_id: str) -> None:
        """Ends the dataset's running worker, if any, once its run has been deleted or declared over."""
        with self._lock:
            entry = self._workers.pop(dataset_id, None)
        if entry is not None:
            _end(entry[1])

    def shutdown(self) -> None:
        with self._lock:
            workers, self._workers = list(self._workers.values()), {}
        for result_id, process in workers:
            self.store.finish_failure(
                result_id, "INTERRUPTED", "The training was interrupted by a server shutdown: train it again"
            )
            _end(process)

    def _watch(self, dataset_id: str, result_id: int, process: BaseProcess, started: float) -> None:
        process.join()
        with self._lock:
            if self._workers.get(dataset_id, (None, None))[1] is process:
                del self._workers[dataset_id]
        details = f"The training worker stopped unexpectedly (exit code {process.exitcode})"
        if self.store.finish_failure(result_id, "WORKER_EXITED", details):
            logger.warning("Training result %s: %s", result_id, details)
        self._log_end(dataset_id, result_id, started)

    def _log_end(self, dataset_id: str, result_id: int, started: float) -> None:
        """One INFO line per run that ends, for whoever watches the server: ids, outcome and time only."""
        outcome = self.store.result_outcome(result_id)
        if outcome is None:
            status, epochs = "CANCELLED (the dataset was changed or deleted)", None
        else:
            status, error_code, epochs = outcome
            status += f" ({error_code})" if error_code else ""
        logger.info(
            "Training %s of dataset %s ended: %s, %s epochs, %.1f s",
            result_id, dataset_id, status, "?" if epochs is None else epochs, time.monotonic() - started,
        )  # fmt: skip


def _end(process: BaseProcess) -> None:
    process.terminate()
    process.join(timeout=10)
    if process.is_alive():
        process.kill()
        process.join()
