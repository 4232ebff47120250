"""Everything one server process holds, opened at start-up and closed at shutdown."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import Depends, Request

from ueba_api.limits import MIN_TRAINING_CONNECTIONS
from ueba_api.models import format_utc
from ueba_server.auth import TokenStore
from ueba_server.config import ServerConfig
from ueba_server.connections import ConnectionCounter, ConnectionStore, Window
from ueba_server.database import Database
from ueba_server.dataset_store import DatasetStore
from ueba_server.generator import GeneratorSettings, generate_connections
from ueba_server.schemas import DatasetRequest, TimeRangeRequest
from ueba_server.supervisor import TrainingSupervisor

logger = logging.getLogger("ueba_server")

INTERRUPTED_BY_RESTART = "The training was interrupted by a server restart: train the dataset again"
DEMO_CREATOR = "demo"
# The demo dataset covers the last 90 days (of the default six months): half the connections, so that a
# first start has a trained model to show within a minute, while still a quarter of a year of patterns.
DEMO_DAYS = 90


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
    database: Database
    datasets: DatasetStore
    connections: ConnectionStore
    counter: ConnectionCounter
    supervisor: TrainingSupervisor
    tokens: TokenStore
    setup_sessions: SetupSessions
    started: datetime

    @classmethod
    def open(cls, config: ServerConfig) -> ServerState:
        """Opens (or creates) the store; generates the connection history on a first start."""
        database = Database(config.database_path)
        database.initialise()
        datasets = DatasetStore(database, config.models_dir, histogram_cache_size=config.histogram_cache_size)
        interrupted = datasets.fail_unfinished("INTERRUPTED", INTERRUPTED_BY_RESTART)
        if interrupted:
            logger.warning("%d training(s) interrupted by the last shutdown are now FAILURE", interrupted)
        connections = ConnectionStore(database)
        if connections.is_empty():
            settings = GeneratorSettings(connections=config.connections, seed=config.seed)
            written = connections.insert(generate_connections(settings))
            logger.info("Generated %d connections (seed %d)", written, config.seed)
        counter = ConnectionCounter(connections)
        counter.refresh()
        return cls(
            config=config,
            database=database,
            datasets=datasets,
            connections=connections,
            counter=counter,
            supervisor=TrainingSupervisor(config, datasets, counter),
            tokens=TokenStore(config.token_lifetime_seconds),
            setup_sessions=SetupSessions(),
            started=datetime.now(UTC),
        )

    def create_demo_dataset(self) -> None:
        """On a first start with --demo: one dataset over the last DEMO_DAYS whole days (UTC), training.

        A history too small for that to make a training gets a dataset over all of it instead.
        """
        if self.datasets.exists():
            return
        span = self.counter.time_span()
        if span is None:
            return
        first, last = span
        end = last.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
        start = end - timedelta(days=DEMO_DAYS)
        time_range = _time_range(start, end)
        comment = (
            f"Demo: the last {DEMO_DAYS} days of the connection history,"
            f" {start:%Y-%m-%d} to {end - timedelta(days=1):%Y-%m-%d} (UTC)"
        )
        count = self.counter.count(Window.from_request(time_range))
        if first >= time_range.start or count < MIN_TRAINING_CONNECTIONS:
            time_range = _time_range(first, last + timedelta(seconds=1))
            comment = "Demo: the whole connection history"
        request = DatasetRequest(
            time_range_settings=time_range, comment=comment, use_for_inference_once_trained=True
        )
        dataset_id = self.datasets.create(request, DEMO_CREATOR)
        self.supervisor.start(dataset_id, set_active=False)
        logger.info("Demo dataset %s created; its training is running", dataset_id)

    def close(self) -> None:
        self.supervisor.shutdown()


def _time_range(start: datetime, end: datetime) -> TimeRangeRequest:
    # Requests take RFC 3339 strings only (see schemas.py), as they come over the wire.
    return TimeRangeRequest.model_validate({"start": format_utc(start), "end": format_utc(end)})


def _server_state(request: Request) -> ServerState:
    return request.app.state.server


State = Annotated[ServerState, Depends(_server_state)]
