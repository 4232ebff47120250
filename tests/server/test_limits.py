"""Resource limits: the cap of concurrent trainings, and the back-off of the token endpoint after failed
logins. Each on a small server of its own (the cap and a lock-out must not touch the shared one)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ueba_api import Dataset, TimeRange
from ueba_server.launch import RunningServer, start_server

from .helpers import TOKEN_PATH, bearer_token, raw_client, training_workers
from .test_bad_input import assert_contract_error


@pytest.fixture(scope="module")
def capped_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    # 500 epochs: the trainings are still running when the test acts on them.
    with start_server(
        tmp_path_factory.mktemp("capped"), connections=6_000, epochs=500, max_trainings=1
    ) as server:
        yield server


def test_a_training_over_the_cap_is_429_with_a_sentence_saying_the_cap(capped_server: RunningServer) -> None:
    token = bearer_token(capped_server, capped_server.client_id, capped_server.client_secret)
    with capped_server.client() as api, raw_client(capped_server, token) as raw:
        first = api.create_dataset(Dataset(time_range_settings=TimeRange()))
        second = api.create_dataset(Dataset(time_range_settings=TimeRange()))
        api.train_dataset(first)
        response = raw.post(f"/train/{second}")
        body = assert_contract_error(response, 429, "GENERAL_ERROR", None)
        assert body["error_message"] == (
            "1 trainings are running and this server runs at most 1 at a time: train again when one has ended"
        )
        assert int(response.headers["retry-after"]) > 0
        assert [r.status for r in api.get_dataset(second).training_results] == []  # nothing was started
        assert len(training_workers(capped_server.pid)) == 1
        api.delete_dataset(first)  # its run ends: there is room again
        assert api.train_dataset(second) == 6_000
        api.delete_dataset(second)


def log_in(server: RunningServer, client_id: str, secret: str) -> httpx.Response:
    return httpx.post(
        f"{server.base_url}{TOKEN_PATH}",
        auth=(server.oauth_client_id, server.oauth_client_secret),
        data={"grant_type": "password", "username": client_id, "password": secret},
    )


def test_five_failed_logins_in_a_minute_lock_that_client_out_with_retry_after(tmp_path: Path) -> None:
    with start_server(tmp_path, connections=6_000) as server:
        started = time.monotonic()
        for _ in range(5):
            assert log_in(server, server.client_id, "guess").json()["error"] == "invalid_grant"
        locked = log_in(server, server.client_id, server.client_secret)  # even the right secret now
        assert locked.status_code == 429
        assert locked.json() == {
            "error": "slow_down",
            "error_description": f"Too many failed logins for this client: try again in"
            f" {locked.headers['retry-after']} s",
        }
        assert 0 < int(locked.headers["retry-after"]) <= 60 - (time.monotonic() - started) + 1
        assert "guess" not in locked.text and server.client_secret not in locked.text
        # Another client id is not locked out by someone guessing this one's secret.
        assert log_in(server, server.view_client_id, server.view_client_secret).status_code == 200
