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


def counting_store(data_dir: Path, rows: int, days: int = 180) -> float:
    """A store of `rows` connections that only their start times tell apart, evenly spread with jitter
    over `days` days up to today, written by SQLite itself; returns the seconds it took.

    For counts, where only start times matter: 10M rows take seconds this way, against about 100 s
    through the generator and `ConnectionStore.insert`.
    """
    started = time.perf_counter()
    database = Database(ServerConfig(data_dir=data_dir).database_path)
    database.initialise()
    end_us = int(time.time() // 86_400 * 86_400 * 1_000_000)
    step = days * 86_400 * 1_000_000 // rows
    with database.connect() as connection:
        connection.execute(
            "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ?)"
            " INSERT INTO connections (start_us, duration_seconds, user, source_address, target_host,"
            " target_account, protocol, is_anomaly)"
            " SELECT ? + i * ? + abs(random()) % ?, 60.0, 'user', '10.0.0.1', 'host', 'root', 'SSH', 0"
            " FROM n",
            (rows, end_us - step * rows, step, step),
        )
    with database.connect() as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return time.perf_counter() - started
