"""What a crash can leave behind never stops the next start: a torn TLS certificate is made anew, and
weight files of runs that never committed are deleted."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ueba_api import TimeRange
from ueba_server.config import ServerConfig
from ueba_server.launch import start_server
from ueba_server.schemas import DatasetRequest
from ueba_server.state import ServerState
from ueba_server.tls import CERT_FILE, KEY_FILE, self_signed_certificate

from .helpers import start_run


def test_a_torn_certificate_is_made_anew_and_the_restart_succeeds(tmp_path: Path) -> None:
    cert, key = self_signed_certificate(tmp_path)
    assert self_signed_certificate(tmp_path) == (cert, key) and cert.read_bytes()  # reused while valid
    torn = cert.read_bytes()[: len(cert.read_bytes()) // 2]
    cert.write_bytes(torn)  # what a crash in the middle of a plain write_bytes left

    with start_server(tmp_path, tls=True, connections=6_000) as server, server.client() as api:
        assert api.count_connections(TimeRange()) == 6_000  # over HTTPS, trusting the new certificate
    assert cert.read_bytes() != torn and (tmp_path / KEY_FILE).stat().st_mode & 0o777 == 0o600
    assert not list(tmp_path.glob(".*.tmp")), "a temporary file was left behind"


def test_a_key_that_does_not_belong_to_the_certificate_is_made_anew(tmp_path: Path) -> None:
    self_signed_certificate(tmp_path)
    old_key = (tmp_path / KEY_FILE).read_bytes()
    other = tmp_path / "other"
    self_signed_certificate(other)
    (tmp_path / KEY_FILE).write_bytes((other / KEY_FILE).read_bytes())  # a crash between the two renames

    self_signed_certificate(tmp_path)

    assert (tmp_path / KEY_FILE).read_bytes() not in (old_key, (other / KEY_FILE).read_bytes())
    assert (tmp_path / CERT_FILE).read_bytes() != (other / CERT_FILE).read_bytes()


def test_weight_files_of_runs_that_never_committed_are_deleted_at_start(tmp_path: Path) -> None:
    config = ServerConfig(data_dir=tmp_path, connections=6_000, seed=3, epochs=1)
    state = ServerState.open(config)
    try:
        store = state.datasets
        dataset_id = store.create(DatasetRequest.model_validate({"time_range_settings": {}}), "tester")
        succeeded = start_run(store, dataset_id)
        assert store.finish_success(succeeded, np.linspace(0.0, 1.0, 100), "done")
        other = store.create(DatasetRequest.model_validate({"time_range_settings": {}}), "tester")
        interrupted = start_run(store, other)  # its worker saved the weights, then the server was killed
    finally:
        state.close()
    config.models_dir.mkdir(parents=True, exist_ok=True)
    kept = store.weights_path(succeeded)
    orphans = [store.weights_path(interrupted), store.weights_path(99_999)]
    for path in [kept, *orphans]:
        path.write_bytes(b"weights")

    ServerState.open(config).close()

    assert kept.exists()
    assert not any(path.exists() for path in orphans)
