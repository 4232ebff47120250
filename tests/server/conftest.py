"""Fixtures of the server tests: raw HTTP clients with tokens, datasets that clean up after themselves."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest

from ueba_api import Dataset, TimeRange, UebaClient
from ueba_server.launch import RunningServer

from .helpers import bearer_token, raw_client, remove_dataset


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
