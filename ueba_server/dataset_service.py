"""The one place where the dataset store and the training supervisor meet: a change of a dataset stops
exactly the runs it removed, and a training starts a worker for the run its transaction created.
Routes call this (or a store) and never coordinate the two themselves.
"""

from __future__ import annotations

import time

from ueba_server.config import FEATURE_CONFIG_NAME, MAX_TRAINING_CONNECTIONS, ServerConfig
from ueba_server.connections import ConnectionCounter, Window
from ueba_server.dataset_store import DatasetStore
from ueba_server.preconditions import UNCONDITIONAL, Precondition
from ueba_server.schemas import DatasetRequest, TimeRangeRequest
from ueba_server.supervisor import TrainingSupervisor


class DatasetService:
    def __init__(self, config: ServerConfig, store: DatasetStore, counter: ConnectionCounter) -> None:
        self.config = config
        self.store = store
        self.counter = counter
        self.supervisor = TrainingSupervisor(config, store)

    def update(
        self,
        dataset_id: str,
        request: DatasetRequest,
        caller: str,
        precondition: Precondition = UNCONDITIONAL,
    ) -> None:
        """Replaces the definition; a run of the old one is cancelled (its worker ended)."""
        self.supervisor.stop_runs(self.store.update(dataset_id, request, caller, precondition))

    def delete(self, dataset_id: str, precondition: Precondition = UNCONDITIONAL) -> None:
        self.supervisor.stop_runs(self.store.delete(dataset_id, precondition))

    def train(self, dataset_id: str, set_active: bool) -> int:
        """Starts a run of the dataset and returns how many connections it uses (a bigger one is sampled).

        Raises DatasetNotFound, DatasetConflict (a run of the dataset is on-going), TooManyTrainings
        (the server's cap of concurrent runs), ApiError (500) when no worker process can be started.
        A range under the minimum gives a FAILURE run at once, and its count.
        """
        started = time.monotonic()
        run = self.store.start_training(
            dataset_id,
            FEATURE_CONFIG_NAME,
            set_active,
            count=self._count,
            connection_limit=MAX_TRAINING_CONNECTIONS,
            max_running=self.config.max_trainings,
        )
        if run.has_enough:
            self.supervisor.launch(run, started)
        else:
            self.supervisor.log_end(dataset_id, run.result_id, started)
        return run.count

    def is_training(self) -> bool:
        return self.supervisor.running() > 0

    def keep_standby_worker(self) -> None:
        self.supervisor.keep_standby()

    def shutdown(self) -> None:
        self.supervisor.shutdown()

    def _count(self, time_range: TimeRangeRequest) -> int:
        return self.counter.count(Window.from_request(time_range))
