"""Fixtures of the robustness tests: a fault-injecting proxy in front of the session's reference server."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.robustness.fault_proxy import FaultProxy
from ueba_server.launch import RunningServer


@pytest.fixture
def proxy(reference_server: RunningServer) -> Iterator[FaultProxy]:
    upstream = httpx.URL(reference_server.base_url)
    assert upstream.scheme == "http", "the proxy speaks plain HTTP to the server"
    fault_proxy = FaultProxy(upstream.host, upstream.port or 80).start()
    yield fault_proxy
    fault_proxy.close()
