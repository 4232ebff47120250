"""Runs training workers (spawned processes: no state is forked from the threaded server) and watches
them, so that a worker that dies without a word still leaves a FAILURE behind. Workers are keyed by run
(result id): stopping one run never touches another, even of the same dataset.

Once the server has started, one worker more stands by, its training code imported (worker.py): a run is
handed to it and another is started in the background. It is no run's, so it counts in no cap, and it
ends with the server (its shutdown, or the pipe's EOF when the server is killed).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.context import SpawnContext
from multiprocessing.process import BaseProcess
from pathlib import Path

from ueba_server.config import MAX_TRAINING_CONNECTIONS, ServerConfig
from ueba_server.dataset_store import DatasetStore, StartedRun
from ueba_server.errors import ApiError
from ueba_server.training_job import TrainingJob
from ueba_server.worker import TOOK_THE_JOB, serve_one_job

logger = logging.getLogger("ueba_server")

# A new worker answers once its interpreter runs (well under a second on a quiet machine, seconds on a
# loaded one); a standby, at once. No answer in this time: the worker is taken as broken.
TAKE_TIMEOUT_SECONDS = 60.0


class TrainingSupervisor:
    def __init__(self, config: ServerConfig, store: DatasetStore) -> None:
        self.config = config
        self.store = store
        self._context = multiprocessing.get_context("spawn")
        self._lock = threading.Lock()
        self._workers: dict[int, BaseProcess] = {}
        # One worker started ahead of the next run, its training code imported: a run then starts
        # without a process start and an import of scikit-learn (about 1.5 s on a quiet machine).
        self._standby: _Worker | None = None
        self._keep_standby = False
        self._starting_standby = False
        self._closed = False

    def keep_standby(self) -> None:
        """From now on keeps one worker standing by; called once the server's start-up is over, so
        that the standby's start (mostly its import of scikit-learn) never delays the server's own."""
        with self._lock:
            self._keep_standby = True
        self._refill()

    def launch(self, run: StartedRun, started: float) -> None:
        """Hands a run that its start transaction left TRAINING to a worker: the one standing by, or a
        new one if none is (or it does not take the job).

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
        try:
            process = self._hand_over(job)
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
        finally:
            self._refill()
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

    def _hand_over(self, job: TrainingJob) -> BaseProcess:
        with self._lock:
            standby, self._standby = self._standby, None
        if standby is not None:
            if standby.take(job):
                return standby.process
            logger.warning("The standby training worker did not take run %s: starting another", job.result_id)
            standby.end()
        worker = self._new_worker()
        if not worker.take(job):
            worker.end()
            raise RuntimeError(f"the new worker process ended before it took the job (exit code "
                               f"{worker.process.exitcode})")  # fmt: skip
        return worker.process

    def _new_worker(self) -> _Worker:
        return _Worker.start(self._context, os.getpid(), self.config.database_path)

    def _refill(self) -> None:
        """Starts a standby worker in the background if one is wanted and none is there or coming."""
        with self._lock:
            if not self._keep_standby or self._closed or self._standby is not None or self._starting_standby:
                return
            self._starting_standby = True
        threading.Thread(target=self._start_standby, name="standby-worker", daemon=True).start()

    def _start_standby(self) -> None:
        worker = None
        try:
            worker = self._new_worker()
        except Exception:
            logger.exception("The standby training worker could not be started: a run starts its own")
        with self._lock:
            self._starting_standby = False
            if worker is not None and not self._closed:
                self._standby, worker = worker, None
        if worker is not None:  # the server shut down meanwhile
            worker.end()

    def running(self) -> int:
        """The runs that have a worker; the standby has none."""
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
            self._closed = True
            workers, self._workers = list(self._workers.items()), {}
            standby, self._standby = self._standby, None
        if standby is not None:
            standby.end()
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


@dataclass(frozen=True)
class _Worker:
    """A started worker process and the server's end of its pipe."""

    process: BaseProcess
    connection: Connection

    @classmethod
    def start(cls, context: SpawnContext, server_pid: int, database_path: Path) -> _Worker:
        ours, theirs = context.Pipe()
        process = context.Process(
            target=serve_one_job, args=(theirs, server_pid, database_path), name="ueba-training"
        )
        process.daemon = True
        try:
            process.start()
        except BaseException:
            ours.close()
            raise
        finally:
            # Only the worker holds its end: the server's end reads EOF when the worker dies, and the
            # worker's when the server dies, even by SIGKILL.
            theirs.close()
        return cls(process, ours)

    def take(self, job: TrainingJob) -> bool:
        """Gives the worker its job; whether it took it (it answers before it trains)."""
        try:
            self.connection.send(job)
            if not self.connection.poll(TAKE_TIMEOUT_SECONDS):
                return False
            return self.connection.recv() == TOOK_THE_JOB
        except (EOFError, OSError):
            return False

    def end(self) -> None:
        self.connection.close()
        _end(self.process)


def _end(process: BaseProcess) -> None:
    process.terminate()
    process.join(timeout=10)
    if process.is_alive():
        process.kill()
        process.join()
