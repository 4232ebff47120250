"""Long trainings on servers of their own: progress shows while a run is TRAINING, the API stays
responsive, changes cancel a run, and a kill or a shutdown leaves a FAILURE behind, data intact."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ueba_api import Dataset, TimeRange, TrainingResult, UebaClient
from ueba_server.launch import RunningServer, start_server

from .helpers import is_alive, standby_workers, training_workers, wait_until

# Enough epochs that a run is still going when the test acts on it; the tests never wait for the end.
SLOW_EPOCHS = 500
CONNECTIONS = 20_000


def start_slow_server(data_dir: Path) -> RunningServer:
    return start_server(data_dir, connections=CONNECTIONS, seed=3, epochs=SLOW_EPOCHS)


@pytest.fixture(scope="module")
def slow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with start_slow_server(tmp_path_factory.mktemp("slow-server")) as server:
        yield server


def wait_for_epochs(api: UebaClient, dataset_id: str, epochs: int, timeout: float = 60.0) -> TrainingResult:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = api.get_dataset(dataset_id).latest_result
        assert result.status == "TRAINING", result.error_details
        if len(result.validation_dataset_loss) >= epochs:
            return result
        time.sleep(0.1)
    raise AssertionError(f"fewer than {epochs} epochs within {timeout} s")


def test_a_training_result_grows_while_polled_and_the_api_stays_responsive(
    slow_server: RunningServer,
) -> None:
    with slow_server.client() as api:
        dataset_id = api.create_dataset(Dataset(time_range_settings=TimeRange()))
        api.train_dataset(dataset_id)
        seen_lengths: set[int] = set()
        slowest = 0.0
        deadline = time.monotonic() + 60
        while len(seen_lengths - {0}) < 3 and time.monotonic() < deadline:
            started = time.perf_counter()
            result = api.get_dataset(dataset_id).latest_result
            api.count_connections(TimeRange())
            slowest = max(slowest, time.perf_counter() - started)
            assert result.status == "TRAINING"
            assert len(result.training_dataset_loss) == len(result.validation_dataset_loss)
            assert result.mean is None and result.validation_dataset_histogram is None
            seen_lengths.add(len(result.validation_dataset_loss))
            time.sleep(0.05)
        assert len(seen_lengths - {0}) >= 3, f"saw loss arrays of lengths {sorted(seen_lengths)} only"
        assert slowest < 1.0, f"a read took {slowest:.2f} s during the training"
        assert api.get_internal_status().training_status == "TRAINING"
        api.delete_dataset(dataset_id)


@pytest.mark.parametrize("change", ["update", "delete"])
def test_changing_a_dataset_cancels_its_training(slow_server: RunningServer, change: str) -> None:
    with slow_server.client() as api:
        dataset_id = api.create_dataset(Dataset(time_range_settings=TimeRange()))
        api.train_dataset(dataset_id)
        wait_for_epochs(api, dataset_id, 1)
        (worker,) = training_workers(slow_server.pid)
        if change == "delete":
            api.delete_dataset(dataset_id)
            assert dataset_id not in {item.id for item in api.list_datasets().items}
        else:
            api.update_dataset(dataset_id, Dataset(time_range_settings=TimeRange(), comment="changed"))
            assert api.get_dataset(dataset_id).training_results == []
        wait_until(lambda: not is_alive(worker), 15, "the cancelled worker did not end")
        assert api.get_internal_status().training_status == "IDLE"
        if change == "update":
            api.train_dataset(dataset_id)  # no 409: nothing is training any more
            wait_for_epochs(api, dataset_id, 1)
            api.delete_dataset(dataset_id)
            wait_until(lambda: not training_workers(slow_server.pid), 15, "the second worker did not end")


def the_standby(server: RunningServer) -> int:
    """The pid of the worker standing by, once there is one (it starts after the server answered)."""
    wait_until(lambda: len(standby_workers(server.pid)) == 1, 60, "no worker stood by")
    (standby,) = standby_workers(server.pid)
    return standby


def test_a_run_starts_on_the_worker_standing_by_and_another_stands_by_next(
    slow_server: RunningServer,
) -> None:
    with slow_server.client() as api:
        standby = the_standby(slow_server)
        dataset_id = api.create_dataset(Dataset(time_range_settings=TimeRange()))
        api.train_dataset(dataset_id)
        # No process started for the run: the one standing by (its scikit-learn imported) took it.
        assert training_workers(slow_server.pid) == {standby}
        next_standby = the_standby(slow_server)
        assert next_standby != standby
        wait_for_epochs(api, dataset_id, 1)
        assert api.get_internal_status().training_status == "TRAINING"
        api.delete_dataset(dataset_id)
        wait_until(lambda: not is_alive(standby), 15, "the cancelled worker did not end")
        assert standby_workers(slow_server.pid) == {next_standby}, "the standby is no run's: nothing ends it"
        assert api.get_internal_status().training_status == "IDLE", "the standby is not a training"


def test_stopping_a_run_ends_its_worker_only(slow_server: RunningServer) -> None:
    with slow_server.client() as api:
        first, second = (api.create_dataset(Dataset(time_range_settings=TimeRange())) for _ in range(2))
        api.train_dataset(first)
        (first_worker,) = training_workers(slow_server.pid)
        api.train_dataset(second)
        (second_worker,) = training_workers(slow_server.pid) - {first_worker}
        standby = the_standby(slow_server)
        wait_for_epochs(api, second, 1)
        api.delete_dataset(first)
        wait_until(lambda: not is_alive(first_worker), 15, "the cancelled worker did not end")
        assert training_workers(slow_server.pid) == {second_worker}
        assert standby_workers(slow_server.pid) == {standby}
        epochs = len(api.get_dataset(second).latest_result.validation_dataset_loss)
        wait_for_epochs(api, second, epochs + 1)  # still training
        api.delete_dataset(second)
        wait_until(lambda: not training_workers(slow_server.pid), 15, "the second worker did not end")


def test_a_run_whose_standby_died_starts_a_worker_of_its_own(slow_server: RunningServer) -> None:
    with slow_server.client() as api:
        dead = the_standby(slow_server)
        os.kill(dead, signal.SIGKILL)
        wait_until(lambda: dead not in standby_workers(slow_server.pid), 15, "the standby did not die")
        dataset_id = api.create_dataset(Dataset(time_range_settings=TimeRange()))
        api.train_dataset(dataset_id)
        (worker,) = training_workers(slow_server.pid)
        assert worker != dead
        wait_for_epochs(api, dataset_id, 1)  # not WORKER_EXITED: the dead one was never given the run
        api.delete_dataset(dataset_id)
        wait_until(lambda: not is_alive(worker), 15, "the cancelled worker did not end")


def test_a_training_cut_off_by_a_kill_or_a_shutdown_is_a_failure_after_restart(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    data_dir = tmp_path_factory.mktemp("restarted-server")
    server = start_slow_server(data_dir)
    with server.client() as api:
        dataset_id = api.create_dataset(Dataset(time_range_settings=TimeRange(), comment="survives"))
        api.train_dataset(dataset_id)
        cut_off = wait_for_epochs(api, dataset_id, 2)
        before = api.get_dataset(dataset_id)
        (worker,) = training_workers(server.pid)
        standby = the_standby(server)
    # A crash of the server alone (not its process group): the worker notices its parent is gone and
    # stops by itself, the standby at once (the pipe it waits on reads EOF).
    os.kill(server.pid, signal.SIGKILL)
    try:
        wait_until(lambda: not is_alive(standby), 15, "the standby worker outlived the killed server")
        wait_until(lambda: not is_alive(worker), 15, "the worker outlived the killed server")
    finally:
        for pid in (worker, standby):
            if is_alive(pid):
                os.kill(pid, signal.SIGKILL)
        server.kill()

    with start_slow_server(data_dir) as restarted, restarted.client() as api:
        after = api.get_dataset(dataset_id)
        assert after.model_dump(exclude={"training_results"}) == before.model_dump(
            exclude={"training_results"}
        )
        assert api.count_connections() == CONNECTIONS
        (result,) = after.training_results
        assert result.status == "FAILURE" and result.error_code == "INTERRUPTED"
        assert "interrupted by a server restart" in result.error_details
        assert len(result.validation_dataset_loss) >= len(cut_off.validation_dataset_loss)

        api.train_dataset(dataset_id)  # the store no longer holds a run as TRAINING
        wait_for_epochs(api, dataset_id, 1)
        (worker,) = training_workers(restarted.pid)
        standby = the_standby(restarted)
    assert not is_alive(worker), "a graceful stop ends the training workers too"
    assert not is_alive(standby), "and the one standing by"

    with start_slow_server(data_dir) as again, again.client() as api:
        statuses = [(r.status, r.error_details) for r in api.get_dataset(dataset_id).training_results]
        assert [status for status, _ in statuses] == ["FAILURE", "FAILURE"]
        assert "interrupted by a server shutdown" in statuses[1][1]
