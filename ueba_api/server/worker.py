"""What the API process needs to start a training worker, and nothing heavier: the API process never
imports scikit-learn, which keeps the server's start-up quick."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class TrainingJob:
    database_path: Path
    models_dir: Path
    result_id: int
    dataset_id: str
    epochs: int
    seed: int
    server_pid: int
    connection_limit: int
    available_connections: int


def run_training_job(job: TrainingJob) -> None:
    """Entry point of the worker process."""
    from ueba_api.server.training import run_training  # imported in the worker only (see module doc)

    run_training(job)
