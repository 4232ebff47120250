"""`train --wait`: poll the dataset until its new run ends, showing epochs and the latest losses.

On a terminal a Rich progress display; otherwise (a CI log) one plain line per new epoch. Both on stderr.
The API does not say how many epochs a training will take, so the progress counts epochs without a total.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from ueba_api.cli import output
from ueba_api.cli.problems import Problem, TimedOut
from ueba_api.client import UebaClient
from ueba_api.frames import Run, training_runs
from ueba_api.models import TrainingResult, TrainingStatus


def _loss(losses: list[float]) -> str:
    return f"{losses[-1]:.5g}" if losses and math.isfinite(losses[-1]) else "—"


def progress_line(result: TrainingResult) -> str:
    epochs = len(result.validation_dataset_loss)
    return (
        f"epoch {epochs}: training loss {_loss(result.training_dataset_loss)}, "
        f"validation loss {_loss(result.validation_dataset_loss)}"
    )


def wait_for_run(
    client: UebaClient,
    dataset_id: str,
    number: int,
    *,
    timeout: float | None,
    interval: float,
    clock: Callable[[], float] = time.monotonic,
) -> Run:
    """Polls until run `number` (1-based) of the dataset is no longer TRAINING; returns it.

    `TimedOut` after `timeout` seconds (the training goes on on the server); `Problem` if the run
    vanished (the dataset was changed or deleted meanwhile).
    """
    deadline = None if timeout is None else clock() + timeout
    stderr = output.stderr
    live = stderr.is_terminal
    # Without a total the bar pulses: the API does not say how many epochs a training takes.
    with Progress(
        SpinnerColumn(),
        BarColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=stderr,
        transient=True,
        disable=not live,
    ) as progress:
        task = progress.add_task(f"Run {number}: waiting for the first epoch", total=None)
        shown_epochs = -1
        while True:
            runs = training_runs(client.get_dataset(dataset_id))
            if len(runs) < number:
                raise Problem(
                    f"Run {number} of dataset {dataset_id} is gone: the dataset was changed "
                    "(its history emptied) while it trained."
                )
            run = runs[number - 1]
            epochs = len(run.result.validation_dataset_loss)
            if epochs != shown_epochs and epochs:
                line = f"Run {number}: {progress_line(run.result)}"
                if live:
                    progress.update(task, description=line, completed=epochs)
                else:
                    stderr.print(line, markup=False)
                shown_epochs = epochs
            if run.result.status != TrainingStatus.TRAINING:
                return run
            if deadline is not None and clock() >= deadline:
                raise TimedOut(
                    f"Run {number} of dataset {dataset_id} was still training after {timeout:g} s; "
                    "it goes on on the server."
                )
            pause = interval if deadline is None else max(0.0, min(interval, deadline - clock()))
            time.sleep(pause)
