"""A PUT or a DELETE racing a POST /train over real HTTP, at staggered moments (before the run starts,
while its worker spawns, while it trains, near its end): no run on a range it was not checked against,
no worker left running, no weight file without a SUCCESS run. The deterministic interleavings are in
test_store_races.py; these check the whole server does what the store promises."""

from __future__ import annotations

import contextlib
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from ueba_api import Dataset, NotFoundError, UebaClient
from ueba_server.launch import RunningServer

from .helpers import last_days, remove_dataset, training_workers, wait_until

STAGGER_SECONDS = [0.0, 0.05, 0.3, 1.0, 2.0, 4.0]


def train_quietly(api: UebaClient, dataset_id: str) -> None:
    with contextlib.suppress(NotFoundError):  # the DELETE came first
        api.train_dataset(dataset_id)


def stray_weight_files(server: RunningServer) -> list[str]:
    """Weight files in the models dir whose run is not a SUCCESS in the store (read beside the server,
    as WAL allows)."""
    with sqlite3.connect(server.data_dir / "ueba.sqlite3") as connection:
        rows = connection.execute("SELECT id FROM training_results WHERE status = 'SUCCESS'")
        succeeded = {row[0] for row in rows}
    return [
        path.name
        for path in (server.data_dir / "models").glob("result-*")
        if int(path.name.split("-")[1].split(".")[0]) not in succeeded
    ]


def settled(server: RunningServer, api: UebaClient) -> None:
    """Waits until no run is TRAINING and no worker is alive."""
    wait_until(
        lambda: not training_workers(server.pid) and api.get_internal_status().training_status == "IDLE",
        60,
        "a training worker outlived the race",
    )


@pytest.mark.parametrize("change", ["put", "delete"])
def test_a_change_racing_a_train_leaves_no_unchecked_run_no_worker_and_no_orphan_file(
    api: UebaClient, reference_server: RunningServer, change: str
) -> None:
    wide, narrow = last_days(api, 45), last_days(api, 1)
    assert api.count_connections(wide) >= 5_000 > api.count_connections(narrow)
    dataset_ids = [api.create_dataset(Dataset(time_range_settings=wide)) for _ in STAGGER_SECONDS]
    try:

        def change_after(dataset_id: str, delay: float) -> None:
            time.sleep(delay)
            if change == "delete":
                api.delete_dataset(dataset_id)
            else:
                api.update_dataset(dataset_id, Dataset(time_range_settings=narrow, comment="narrowed"))

        # One race at a time: the shared server caps concurrent trainings.
        for dataset_id, delay in zip(dataset_ids, STAGGER_SECONDS, strict=True):
            with ThreadPoolExecutor(max_workers=2) as pool:
                train = pool.submit(train_quietly, api, dataset_id)
                futures = [train, pool.submit(change_after, dataset_id, delay)]
                for future in futures:
                    future.result()
            settled(reference_server, api)

        listed = {item.id: item for item in api.list_datasets().items}
        if change == "delete":
            assert not set(dataset_ids) & set(listed)
        else:
            narrow_count = api.count_connections(narrow)
            for dataset_id in dataset_ids:
                for result in listed[dataset_id].training_results:
                    # Any run left began after the PUT: on the narrow range, counted and refused.
                    assert result.num_connections == narrow_count, result
                    assert (result.status, result.error_code) == ("FAILURE", "NOT_ENOUGH_CONNECTIONS"), result
        assert not stray_weight_files(reference_server), "weight files without a SUCCESS run"
    finally:
        for dataset_id in dataset_ids:
            remove_dataset(api, dataset_id)
