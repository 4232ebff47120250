"""Shared fixtures: one reference server for the whole session, and a client of it.

The server holds ~50k generated connections over the six months before today (UTC) and trains in a few
epochs, so a training takes a few seconds. Its data span is in `/status` (`connections_first`,
`connections_last`) and in `SESSION_DATA` below.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from ueba_server.launch import RunningServer, start_server

if TYPE_CHECKING:
    from ueba_api.client import UebaClient

SESSION_CONNECTIONS = 50_000
SESSION_SEED = 11
SESSION_EPOCHS = 5


@pytest.fixture(scope="session")
def reference_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    data_dir = tmp_path_factory.mktemp("ueba-reference-server")
    with start_server(
        data_dir, connections=SESSION_CONNECTIONS, seed=SESSION_SEED, epochs=SESSION_EPOCHS
    ) as server:
        yield server


@pytest.fixture
def api(reference_server: RunningServer) -> Iterator[UebaClient]:
    with reference_server.client() as client:
        yield client
