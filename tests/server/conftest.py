"""Fixtures of the server tests: raw HTTP clients with tokens, datasets that clean up after themselves."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from ueba_api import Dataset, TimeRange, UebaClient
from ueba_server.launch import RunningServer

from .helpers import bearer_token, raw_client, remove_dataset

SERVER_TESTS = Path(__file__).parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The server's `slow` tests (minutes of kill -9 rounds) run only when asked for: `-m slow`.
    Only this folder's: other folders' slow tests keep their own rules."""
    if "slow" in (config.getoption("markexpr") or ""):
        return
    slow = [item for item in items if item.get_closest_marker("slow") and SERVER_TESTS in item.path.parents]
    if slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = [item for item in items if item not in slow]


@pytest.fixture(scope="module")
def raw(reference_server: RunningServer) -> Iterator[httpx.Client]:
    """Raw client with the manage client's token (ueba-view + ueba-manage)."""
    token = bearer_token(reference_server, reference_server.client_id, reference_server.client_secret)
    with raw_client(reference_server, token) as client:
        yield client


@pytest.fixture(scope="module")
def raw_view(reference_server: RunningServer) -> Iterator[httpx.Client]:
    """Raw client with the view-only client's token (ueba-view)."""
    token = bearer_token(
        reference_server, reference_server.view_client_id, reference_server.view_client_secret
    )
    with raw_client(reference_server, token) as client:
        yield client


@pytest.fixture
def make_dataset(api: UebaClient) -> Iterator[Callable[..., str]]:
    """Creates datasets on the shared server and deletes them after the test, active or not."""
    created: list[str] = []

    def make(time_range: TimeRange, **fields: object) -> str:
        dataset_id = api.create_dataset(Dataset(time_range_settings=time_range, **fields))
        created.append(dataset_id)
        return dataset_id

    yield make
    for dataset_id in created:
        remove_dataset(api, dataset_id)
