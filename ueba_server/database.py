"""The server's one SQLite file (WAL mode): schema, connections to it, and the small settings table.

Each thread keeps one connection, its PRAGMAs set once (opening one costs more than most queries): the
API runs handlers on a thread pool and trainings run in other processes, and SQLite in WAL mode lets
them all read while one writes.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS datasets (
    id TEXT PRIMARY KEY,
    time_range TEXT NOT NULL,
    comment TEXT,
    use_for_inference_once_trained INTEGER NOT NULL DEFAULT 0,
    is_active INTEGER NOT NULL DEFAULT 0,
    last_training TEXT,
    created TEXT NOT NULL,
    created_by TEXT NOT NULL,
    updated TEXT NOT NULL,
    updated_by TEXT NOT NULL
);
-- At most one active dataset.
CREATE UNIQUE INDEX IF NOT EXISTS one_active_dataset ON datasets (is_active) WHERE is_active = 1;

CREATE TABLE IF NOT EXISTS training_results (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    dataset_id TEXT NOT NULL REFERENCES datasets (id) ON DELETE CASCADE,
    created TEXT NOT NULL,
    finished TEXT,
    feature_config_name TEXT NOT NULL,
    status TEXT NOT NULL,
    set_active INTEGER NOT NULL DEFAULT 0,
    error_code TEXT,
    error_details TEXT,
    num_connections INTEGER,
    mean REAL,
    std REAL,
    quantile_99 REAL,
    quantile_999 REAL,
    training_log TEXT NOT NULL DEFAULT '',
    training_dataset_loss TEXT NOT NULL DEFAULT '[]',
    validation_dataset_loss TEXT NOT NULL DEFAULT '[]',
    validation_losses BLOB,
    -- The range the run was checked on when it started and trains on (JSON, as datasets.time_range).
    time_range TEXT,
    -- The validation-loss histogram at the default bin count (JSON), stored when the run succeeds.
    default_histogram TEXT
);
-- One training per dataset at a time: a second TRAINING row for a dataset is refused by SQLite itself.
CREATE UNIQUE INDEX IF NOT EXISTS one_training_per_dataset
    ON training_results (dataset_id) WHERE status = 'TRAINING';
CREATE INDEX IF NOT EXISTS results_by_dataset ON training_results (dataset_id, id);

CREATE TABLE IF NOT EXISTS connections (
    id INTEGER PRIMARY KEY,
    start_us INTEGER NOT NULL,
    duration_seconds REAL NOT NULL,
    user TEXT NOT NULL,
    source_address TEXT NOT NULL,
    target_host TEXT NOT NULL,
    target_account TEXT NOT NULL,
    protocol TEXT NOT NULL,
    -- Ground truth for evaluation only: never a feature.
    is_anomaly INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS connections_by_start ON connections (start_us);

CREATE TABLE IF NOT EXISTS settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""


ADDED_RESULT_COLUMNS = ("time_range", "default_histogram")
# See docs/server.md, "Durability": what each level risks on a power loss, and what it costs here.
SYNCHRONOUS = "FULL"


class Begin(Enum):
    """How `Database.connect` opens its transaction (the statement that does it)."""

    SNAPSHOT = "BEGIN DEFERRED"
    IMMEDIATE = "BEGIN IMMEDIATE"


class Database:
    def __init__(
        self,
        path: Path,
        *,
        busy_timeout: float = 30.0,
        synchronous: str = SYNCHRONOUS,
        on_statement: Callable[[str], None] | None = None,
    ) -> None:
        self.path = path
        # Seconds a statement waits for another connection's write lock before "database is locked".
        self.busy_timeout = busy_timeout
        self.synchronous = synchronous
        # Called with each statement's SQL before it runs (SQLite's trace hook): tests use it to make
        # races happen at a chosen statement.
        self.on_statement = on_statement
        self._local = threading.local()

    def initialise(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.connect() as connection:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.executescript(SCHEMA)
            # A store made by an older version lacks the columns added since: add them (NULL in old rows).
            present = {row["name"] for row in connection.execute("PRAGMA table_info(training_results)")}
            for column in ADDED_RESULT_COLUMNS:
                if column not in present:
                    connection.execute(f"ALTER TABLE training_results ADD COLUMN {column} TEXT")

    @contextmanager
    def connect(self, begin: Begin | None = None) -> Iterator[sqlite3.Connection]:
        """A connection for one unit of work: committed when the block ends, rolled back on error.

        Without `begin`, Python's sqlite3 opens the transaction only at the first write, so every read
        before it is a snapshot of its own. `Begin.SNAPSHOT` makes all the reads of the block see one
        snapshot; `Begin.IMMEDIATE` also takes the write lock at once, so that a check and the write it
        guards form one unit that no other writer can come between.
        The thread's own connection serves the block; a block opened inside another gets a connection
        of its own, so it never commits its outer block's transaction.
        """
        kept = getattr(self._local, "connection", None)
        if kept is None:
            kept = self._local.connection = self._open()
        in_use = getattr(self._local, "in_use", False)
        connection = self._open() if in_use else kept
        self._local.in_use = True
        try:
            with connection:
                if begin is not None:
                    connection.execute(begin.value)
                yield connection
        finally:
            if connection is kept:
                self._local.in_use = in_use
            else:
                connection.close()

    def _open(self) -> sqlite3.Connection:
        # check_same_thread stays on: a connection never leaves the thread that opened it.
        connection = sqlite3.connect(self.path, timeout=self.busy_timeout)
        connection.row_factory = sqlite3.Row
        connection.execute("PRAGMA foreign_keys=ON")
        connection.execute(f"PRAGMA synchronous={self.synchronous}")
        connection.set_trace_callback(self.on_statement)
        return connection

    def get_setting(self, key: str, default: Any = None) -> Any:
        with self.connect() as connection:
            row = connection.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return default if row is None else json.loads(row["value"])

    def set_setting(self, key: str, value: Any) -> None:
        with self.connect() as connection:
            connection.execute(
                "INSERT INTO settings (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, json.dumps(value)),
            )

    @staticmethod
    def counter(connection: sqlite3.Connection, key: str) -> int:
        """An integer setting (0 if never set), read inside the caller's transaction."""
        row = connection.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return 0 if row is None else int(row[0])

    @staticmethod
    def increment_counter(connection: sqlite3.Connection, key: str) -> None:
        """Adds one to an integer setting inside the caller's transaction."""
        connection.execute(
            "INSERT INTO settings (key, value) VALUES (?, '1') "
            "ON CONFLICT (key) DO UPDATE SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT)",
            (key,),
        )
