"""The training worker process's entry point. The API process imports this module to name the entry
point, never scikit-learn itself, which keeps the server's start-up quick."""

from __future__ import annotations

from ueba_server.training_job import TrainingJob


def run_training_job(job: TrainingJob) -> None:
    """Entry point of the worker process."""
    from ueba_server.training import run_training  # imported in the worker only (see module doc)

    run_training(job)
