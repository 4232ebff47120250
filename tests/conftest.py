"""Shared fixtures: one reference server for the whole session, and a client of it.

The server holds ~50k generated connections over the six months before today (UTC) and trains in a few
epochs, so a training takes a few seconds. Its data span is in `/status` (`connections_first`,
`connections_last`) and in `SESSION_DATA` below.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import httpx
import pytest

from tests.robustness.fault_proxy import FaultProxy
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


@pytest.fixture
def proxy(reference_server: RunningServer) -> Iterator[FaultProxy]:
    """A fault-injecting proxy in front of the session's reference server (tests/robustness/fault_proxy.py):
    the client's tests and the app's both put it between them and the server."""
    upstream = httpx.URL(reference_server.base_url)
    assert upstream.scheme == "http", "the proxy speaks plain HTTP to the server"
    fault_proxy = FaultProxy(upstream.host, upstream.port or 80).start()
    yield fault_proxy
    fault_proxy.close()
