"""Scoring connections with a stored model, for tests and analysts checking that a model really learned.

Not part of the HTTP API (PrivX does not score over it either): it reads the server's data dir directly,
which SQLite in WAL mode allows while the server runs. The labels it returns come from the store's
`is_anomaly` column, which the model never saw.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ueba_server.config import ServerConfig
from ueba_server.connections import ConnectionStore, Window
from ueba_server.database import Database
from ueba_server.dataset_store import DatasetStore
from ueba_server.training import load_model


def score_dataset(data_dir: Path, dataset_id: str) -> pd.DataFrame:
    """Every connection of the dataset's time range, scored by its latest successful model.

    Columns: `loss` (mean squared reconstruction error, as in the validation histogram), `is_anomaly`.
    """
    config = ServerConfig(data_dir=Path(data_dir))
    database = Database(config.database_path)
    store = DatasetStore(database, config.models_dir)
    result_id = store.latest_success_id(dataset_id)
    if result_id is None:
        raise LookupError(f"Dataset {dataset_id} has no successful training")
    connections = ConnectionStore(database).load(Window.from_request(store.time_range(dataset_id)))
    losses = load_model(store, result_id).losses(connections.drop(columns="is_anomaly"))
    return pd.DataFrame({"loss": losses, "is_anomaly": connections["is_anomaly"].to_numpy()})
