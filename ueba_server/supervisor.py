"""Runs training workers (spawned processes: no state is forked from the threaded server) and watches
them, so that a worker that dies without a word still leaves a FAILURE behind. Workers are keyed by run
(result id): stopping one run never touches another, even of the same dataset.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from multiprocessing.process import BaseProcess

from ueba_server.config import MAX_TRAINING_CONNECTIONS, ServerConfig
from ueba_server.dataset_store import DatasetStore, StartedRun
from ueba_server.errors import ApiError
from ueba_server.training_job import TrainingJob
from ueba_server.worker import run_training_job

logger = logging.getLogger("ueba_server")


class TrainingSupervisor:
    def __init__(self, config: ServerConfig, store: DatasetStore) -> None:
        self.config = config
        self.store = store
        self._context = multiprocessing.get_context("spawn")
        self._lock = threading.Lock()
        self._workers: dict[int, BaseProcess] = {}

    def launch(self, run: StartedRun, started: float) -> None:
        """Starts the worker of a run that its start transaction left TRAINING.

        ApiError (500) when no worker process can be started, after recording the run as a FAILURE.
        """
        job = TrainingJob(
            database_path=self.config.database_path,
            models_dir=self.config.models_dir,
            result_id=run.result_id,
            dataset_id=run.dataset_id,
            epochs=self.config.epochs,
            # Each run its own seed, as a real engine's random initialisation: retraining a dataset
            # shows the run-to-run spread a reviewer compares, and a store still replays the same.
            seed=self.config.seed + run.result_id,
            server_pid=os.getpid(),
            connection_limit=MAX_TRAINING_CONNECTIONS,
            available_connections=run.available,
        )
        process = self._context.Process(
            target=run_training_job, args=(job,), name=f"ueba-training-{run.result_id}"
        )
        process.daemon = True
        try:
            process.start()
        except Exception as error:
            # Without a worker nobody would ever end this run, and the dataset would refuse every
            # training (409) until a restart: it ends here, as a FAILURE that says why.
            logger.exception("Training result %s: the worker process could not be started", run.result_id)
            self.store.finish_failure(
                run.result_id,
                "WORKER_START_FAILED",
                f"The training worker process could not be started ({type(error).__name__}: {error}):"
                " see the server log, then train the dataset again",
            )
            self.log_end(run.dataset_id, run.result_id, started)
            raise ApiError(
                500, "The training worker process could not be started: see the server log"
            ) from error
        with self._lock:
            self._workers[run.result_id] = process
        threading.Thread(
            target=self._watch, args=(run.dataset_id, run.result_id, process, started), daemon=True
        ).start()
        # A PUT or DELETE that removed the run between its start transaction and the line above found
        # no worker to stop: it is stopped here. One that comes later finds it registered.
        outcome = self.store.result_outcome(run.result_id)
        if outcome is None or outcome[0] != "TRAINING":
            self.stop_runs([run.result_id])

    def running(self) -> int:
        with self._lock:
            return len(self._workers)

    def stop_runs(self, result_ids: list[int]) -> None:
        """Ends the workers of these runs, if any run, once the runs were deleted or declared over."""
        with self._lock:
            processes = [self._workers.pop(result_id, None) for result_id in result_ids]
        for process in processes:
            if process is not None:
                _end(process)

    def shutdown(self) -> None:
        with self._lock:
            workers, self._workers = list(self._workers.items()), {}
        for result_id, process in workers:
            self.store.finish_failure(
                result_id, "INTERRUPTED", "The training was interrupted by a server shutdown: train it again"
            )
            _end(process)

    def _watch(self, dataset_id: str, result_id: int, process: BaseProcess, started: float) -> None:
        process.join()
        with self._lock:
            if self._workers.get(result_id) is process:
                del self._workers[result_id]
        details = f"The training worker stopped unexpectedly (exit code {process.exitcode})"
        if self.store.finish_failure(result_id, "WORKER_EXITED", details):
            logger.warning("Training result %s: %s", result_id, details)
        outcome = self.store.result_outcome(result_id)
        if outcome is None or outcome[0] != "SUCCESS":
            # A worker stopped between saving its weights and the SUCCESS that commits them.
            self.store.weights_path(result_id).unlink(missing_ok=True)
        self.log_end(dataset_id, result_id, started)

    def log_end(self, dataset_id: str, result_id: int, started: float) -> None:
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
