"""Helpers of the server tests: tokens and raw HTTP clients, the data span, polling a training."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from ueba_api import ConflictError, NotFoundError, TimeRange, TrainingResult, UebaClient
from ueba_server.config import FEATURE_CONFIG_NAME, MAX_TRAINING_CONNECTIONS
from ueba_server.dataset_store import DatasetStore
from ueba_server.launch import RunningServer
from ueba_server.openapi import UEBA_PREFIX
from ueba_server.worker import RUN_NAME_PREFIX, STANDBY_NAME

TOKEN_PATH = "/auth/api/v1/oauth/token"
TRAINING_TIMEOUT = 120.0


def bearer_token(server: RunningServer, client_id: str, client_secret: str) -> str:
    response = httpx.post(
        f"{server.base_url}{TOKEN_PATH}",
        auth=(server.oauth_client_id, server.oauth_client_secret),
        data={"grant_type": "password", "username": client_id, "password": client_secret},
        verify=str(server.ca_cert) if server.ca_cert else True,
    )
    response.raise_for_status()
    return response.json()["access_token"]


def raw_client(server: RunningServer, token: str | None) -> httpx.Client:
    """httpx on the UEBA prefix, for the exact wire: status codes and error bodies."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=f"{server.base_url}{UEBA_PREFIX}", headers=headers, timeout=30.0)


def data_span(api: UebaClient) -> tuple[datetime, datetime]:
    """First and last connection start of the server's history, from /status."""
    details = {detail.k: detail.v for detail in api.get_status().status_details}
    first = datetime.fromisoformat(details["connections_first"])
    last = datetime.fromisoformat(details["connections_last"])
    return first, last


def last_days(api: UebaClient, days: int) -> TimeRange:
    """The last `days` of the history, whole days, end exclusive."""
    _, last = data_span(api)
    end = last.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    return TimeRange(start=end - timedelta(days=days), end=end)


def wait_for_training(api: UebaClient, dataset_id: str, timeout: float = TRAINING_TIMEOUT) -> TrainingResult:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = api.get_dataset(dataset_id).latest_result
        assert result is not None, "the dataset has no training result"
        if result.status != "TRAINING":
            return result
        time.sleep(0.1)
    raise AssertionError(f"training of {dataset_id} did not end within {timeout} s")


def remove_dataset(api: UebaClient, dataset_id: str) -> None:
    try:
        api.delete_dataset(dataset_id)
    except NotFoundError:
        pass
    except ConflictError:  # it is active: the documented way out
        api.stop_analyzing()
        api.delete_dataset(dataset_id)


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return text.rsplit(")", 1)[1].split()  # [state, ppid, ...]: the name before may hold anything


def _spawned_children(server_pid: int) -> dict[int, str]:
    """pid -> process name (comm) of the server's live spawned multiprocessing children (Linux /proc)."""
    children = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name))
        if fields is None or int(fields[1]) != server_pid or fields[0] == "Z":
            continue
        try:
            command = (entry / "cmdline").read_bytes()
            name = (entry / "comm").read_text().strip()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if b"spawn_main" in command:
            children[int(entry.name)] = name
    return children


def training_workers(server_pid: int) -> set[int]:
    """The server's live workers of runs: a worker names itself after its run before the POST answers."""
    return {pid for pid, name in _spawned_children(server_pid).items() if name.startswith(RUN_NAME_PREFIX)}


def standby_workers(server_pid: int) -> set[int]:
    """The server's worker standing by for the next run, its training code imported (one at most, once the
    server has started)."""
    return {pid for pid, name in _spawned_children(server_pid).items() if name == STANDBY_NAME}


def is_alive(pid: int) -> bool:
    fields = _stat_fields(pid)
    return fields is not None and fields[0] != "Z"


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} within {timeout} s")
        time.sleep(0.1)


def start_run(
    store: DatasetStore,
    dataset_id: str,
    *,
    connections: int = 10_000,
    set_active: bool = False,
    **options: Any,
) -> int:
    """A TRAINING run of the store's dataset whose range is counted as `connections`; its result id."""
    run = store.start_training(
        dataset_id,
        FEATURE_CONFIG_NAME,
        set_active,
        count=lambda _: connections,
        connection_limit=MAX_TRAINING_CONNECTIONS,
        **options,
    )
    return run.result_id
