"""Everything one server process holds, opened at start-up and closed at shutdown."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Request

from ueba_server.auth import LoginThrottle, TokenStore
from ueba_server.config import ServerConfig
from ueba_server.connections import ConnectionCounter, ConnectionStore
from ueba_server.database import Database
from ueba_server.dataset_service import DatasetService
from ueba_server.dataset_store import DatasetStore
from ueba_server.generator import GeneratorSettings, generate_connections
from ueba_server.settings_store import SettingsStore

logger = logging.getLogger("ueba_server")

INTERRUPTED_BY_RESTART = "The training was interrupted by a server restart: train the dataset again"
@dataclass
class SetupSessions:
    """Single-use download sessions of the setup script."""

    _ids: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, session_id: str) -> None:
        with self._lock:
            self._ids.add(session_id)

    def take(self, session_id: str) -> bool:
        with self._lock:
            if session_id not in self._ids:
                return False
            self._ids.remove(session_id)
            return True


@dataclass
class ServerState:
    config: ServerConfig
    datasets: DatasetStore
    settings: SettingsStore
    counter: ConnectionCounter
    service: DatasetService
    tokens: TokenStore
    login_throttle: LoginThrottle
    setup_sessions: SetupSessions
    started: datetime

    @classmethod
    def open(cls, config: ServerConfig) -> ServerState:
        """Opens (or creates) the store; generates the connection history on a first start.

        What a crash left behind is settled first: runs still TRAINING become FAILURE (their workers
        are gone) and weight files no SUCCESS run owns are deleted.
        """
        database = Database(config.database_path)
        database.initialise()
        datasets = DatasetStore(database, config.models_dir, histogram_cache_size=config.histogram_cache_size)
        datasets.canonicalise_time_ranges()
        interrupted = datasets.fail_unfinished("INTERRUPTED", INTERRUPTED_BY_RESTART)
        if interrupted:
            logger.warning("%d training(s) interrupted by the last shutdown are now FAILURE", interrupted)
        removed = datasets.remove_uncommitted_weights()
        if removed:
            logger.warning("%d weight file(s) of runs that never succeeded were deleted", removed)
        connections = ConnectionStore(database)
        if connections.is_empty():
            settings = GeneratorSettings(connections=config.connections, seed=config.seed)
            written = connections.insert(generate_connections(settings))
            logger.info("Generated %d connections (seed %d)", written, config.seed)
        counter = ConnectionCounter(connections)
        counter.refresh()
        return cls(
            config=config,
            datasets=datasets,
            settings=SettingsStore(database),
            counter=counter,
            service=DatasetService(config, datasets, counter),
            tokens=TokenStore(config.token_lifetime_seconds),
            login_throttle=LoginThrottle(config.login_failure_limit),
            setup_sessions=SetupSessions(),
            started=datetime.now(UTC),
        )

    def close(self) -> None:
        self.service.shutdown()


async def _server_state(request: Request) -> ServerState:
    # async: a dependency that only reads an attribute costs no thread-pool hop.
    return request.app.state.server


State = Annotated[ServerState, Depends(_server_state)]
