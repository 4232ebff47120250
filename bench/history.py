"""A store with a long training history, written fast: finished runs, no trainings.

The first TEMPLATES datasets and their runs go through `DatasetStore` (create, start_training,
finish_success), as the server and its workers write them; only the per-epoch losses and log are
written in one UPDATE a run (`record_epoch` is one transaction an epoch). The other datasets are copies
of those, row for row, made in SQL: through the store, 1,000 datasets x 20 runs take about 150 s here.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import numpy as np

from ueba_server.config import FEATURE_CONFIG_NAME, ServerConfig
from ueba_server.database import Database
from ueba_server.dataset_store import DatasetStore
from ueba_server.schemas import DatasetRequest

CLIENT_ID = "bench"
TEMPLATES = 10


def write_history(data_dir: Path, datasets: int, runs: int, epochs: int, losses: int = 1_000) -> float:
    """Writes `datasets` datasets of `runs` SUCCESS runs of `epochs` epochs each, every run with `losses`
    validation losses; returns the seconds it took."""
    started = time.perf_counter()
    database = Database(ServerConfig(data_dir=data_dir).database_path)
    database.initialise()
    store = DatasetStore(database, data_dir / "models")
    rng = np.random.default_rng(1)
    decay = 1.0 / np.arange(1, epochs + 1)
    training_losses = json.dumps(np.round(0.5 * decay, 6).tolist())
    validation_losses = json.dumps(np.round(0.55 * decay, 6).tolist())
    log = "".join(
        f"epoch {epoch}/{epochs}: training loss {0.5 / epoch:.6f}\n" for epoch in range(1, epochs + 1)
    )
    for number in range(min(datasets, TEMPLATES)):
        request = DatasetRequest.model_validate({"time_range_settings": {}, "comment": f"history {number}"})
        dataset_id = store.create(request, CLIENT_ID)
        for _ in range(runs):
            result_id = store.start_training(dataset_id, FEATURE_CONFIG_NAME, losses * 5, set_active=False)
            with database.connect() as connection:
                connection.execute(
                    "UPDATE training_results SET training_dataset_loss = ?, validation_dataset_loss = ?,"
                    " training_log = ? WHERE id = ?",
                    (training_losses, validation_losses, log, result_id),
                )
            store.finish_success(result_id, rng.gamma(2.0, 0.01, losses), "finished")
    _copy_datasets(database, datasets - TEMPLATES)
    return time.perf_counter() - started


def _copy_datasets(database: Database, copies: int) -> None:
    """`copies` more datasets, each a copy of one of the written ones (in turn) with all its runs."""
    if copies <= 0:
        return
    with database.connect() as connection:
        templates = [row[0] for row in connection.execute("SELECT id FROM datasets ORDER BY created, id")]
        columns = [row[1] for row in connection.execute("PRAGMA table_info(training_results)")]
        copied = ", ".join(column for column in columns if column not in ("id", "dataset_id"))
        for number in range(copies):
            template, copy_id = templates[number % len(templates)], str(uuid.uuid4())
            connection.execute(
                "INSERT INTO datasets SELECT ?, time_range, ?, use_for_inference_once_trained, 0,"
                " last_training, created, created_by, updated, updated_by FROM datasets WHERE id = ?",
                (copy_id, f"history copy {number}", template),
            )
            connection.execute(
                f"INSERT INTO training_results (dataset_id, {copied}) SELECT ?, {copied}"
                " FROM training_results WHERE dataset_id = ? ORDER BY id",
                (copy_id, template),
            )
