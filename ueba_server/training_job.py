"""What a training worker is handed: plain values that cross a process boundary, and no import of
scikit-learn (the API process builds jobs and never loads it)."""

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
