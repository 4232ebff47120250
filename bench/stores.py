"""Building a reference server store of a given size, timed, for the benchmarks."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from ueba_server.config import ServerConfig
from ueba_server.connections import ConnectionStore
from ueba_server.database import Database
from ueba_server.generator import GeneratorSettings, generate_connections


@dataclass(frozen=True)
class BuiltStore:
    store: ConnectionStore
    generate_seconds: float
    insert_seconds: float
    file_bytes: int


def build_store(data_dir: Path, connections: int, seed: int = 7) -> BuiltStore:
    """Generates `connections` into a fresh store in `data_dir`, timing generation and insertion apart."""
    database = Database(ServerConfig(data_dir=data_dir).database_path)
    database.initialise()
    store = ConnectionStore(database)
    generate_seconds = insert_seconds = 0.0
    chunks = generate_connections(GeneratorSettings(connections=connections, seed=seed))
    while True:
        started = time.perf_counter()
        chunk = next(chunks, None)
        generate_seconds += time.perf_counter() - started
        if chunk is None:
            break
        started = time.perf_counter()
        store.insert([chunk])
        insert_seconds += time.perf_counter() - started
    with database.connect() as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return BuiltStore(store, generate_seconds, insert_seconds, database.path.stat().st_size)
