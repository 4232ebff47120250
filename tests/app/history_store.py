"""A reference server's store filled with finished trainings through the store's own API, quickly: many
datasets with long histories, as a PrivX has after months of use, without running the trainings."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ueba_server.config import FEATURE_CONFIG_NAME, ServerConfig
from ueba_server.database import Database
from ueba_server.dataset_store import DatasetStore
from ueba_server.schemas import DatasetRequest, TimeRangeRequest

VALIDATION_CONNECTIONS = 2_000


def write_history(data_dir: Path, *, datasets: int, runs: int, epochs: int, seed: int = 7) -> list[str]:
    """`datasets` datasets of `runs` finished runs of `epochs` epochs each, in a store at `data_dir` (which
    a server then starts on); returns the dataset ids."""
    config = ServerConfig(data_dir=data_dir)
    database = Database(config.database_path)
    database.initialise()
    store = DatasetStore(database, config.models_dir)
    random = np.random.default_rng(seed)
    end = "2026-11-01T00:00:00Z"
    ids = []
    for number in range(datasets):
        time_range = TimeRangeRequest(start="2026-10-02T00:00:00Z", end=end)
        request = DatasetRequest(comment=f"History dataset {number}", time_range_settings=time_range)
        dataset_id = store.create(request, "history-writer")
        for _ in range(runs):
            result_id = store.start_training(dataset_id, FEATURE_CONFIG_NAME, 40_000, False)
            losses = 0.01 + 0.02 * np.exp(-np.arange(epochs) / 20)
            for epoch, loss in enumerate(losses):
                store.record_epoch(result_id, float(loss), float(loss * 1.05), f"epoch {epoch}")
            store.finish_success(result_id, random.gamma(2.0, 0.005, VALIDATION_CONNECTIONS), "finished")
        ids.append(dataset_id)
    return ids
