"""The client against the reference server over real HTTP, logged in with the OAuth2 password grant.

The server is shared by the whole test session, so whatever this module changes (settings, the
active dataset) it puts back.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest

from ueba_api import (
    AnomalyAction,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    Dataset,
    NotFoundError,
    Period,
    PermissionDeniedError,
    TimeRange,
    TrainingResult,
    TrainingStatus,
    UebaClient,
)
from ueba_server.launch import RunningServer

TRAINING_TIMEOUT = 180.0


@pytest.fixture
def client(reference_server: RunningServer) -> Iterator[UebaClient]:
    with UebaClient(
        reference_server.base_url,
        client_id=reference_server.client_id,
        client_secret=reference_server.client_secret,
        oauth_client_id=reference_server.oauth_client_id,
        oauth_client_secret=reference_server.oauth_client_secret,
        ca_cert=reference_server.ca_cert,
        timeout=30.0,
    ) as client:
        yield client


def status_details(client: UebaClient) -> dict[str, object]:
    return {detail.k: detail.v for detail in client.get_status().status_details}


def data_range(client: UebaClient) -> TimeRange:
    """The server's whole data span, less one week in the middle."""
    details = status_details(client)
    first = datetime.fromisoformat(str(details["connections_first"]))
    last = datetime.fromisoformat(str(details["connections_last"]))
    middle = first + (last - first) / 2
    week_off = Period(start=middle, end=middle + timedelta(days=7))
    return TimeRange(start=first, end=last + timedelta(seconds=1), exclude=[week_off])


def wait_for_training(client: UebaClient, dataset_id: str) -> TrainingResult:
    deadline = time.monotonic() + TRAINING_TIMEOUT
    while time.monotonic() < deadline:
        result = client.get_dataset(dataset_id).latest_result
        if result is not None and result.status != TrainingStatus.TRAINING:
            return result
        time.sleep(0.1)
    raise AssertionError(f"training of {dataset_id} did not finish in {TRAINING_TIMEOUT} s")


def active_dataset_id(client: UebaClient) -> str | None:
    return next((dataset.id for dataset in client.list_datasets().items if dataset.is_active), None)


def test_dataset_lifecycle(client: UebaClient) -> None:
    time_range = data_range(client)
    everything = client.count_connections()
    in_range = client.count_connections(time_range)
    assert 5000 <= in_range < everything

    dataset_id = client.create_dataset(Dataset(time_range_settings=time_range, comment="lifecycle test"))
    created = client.get_dataset(dataset_id)
    assert created.id == dataset_id
    assert created.time_range_settings == time_range
    assert (created.comment, created.is_active, created.training_results) == ("lifecycle test", False, [])
    assert created.created is not None and created.created.tzinfo is not None
    listed = client.list_datasets()
    assert dataset_id in [dataset.id for dataset in listed.items]
    assert listed.count == len(listed.items)

    client.update_dataset(dataset_id, created.model_copy(update={"comment": "lifecycle test, renamed"}))
    assert client.get_dataset(dataset_id).comment == "lifecycle test, renamed"

    assert client.train_dataset(dataset_id) == in_range
    with pytest.raises(ConflictError):
        client.train_dataset(dataset_id)
    result = wait_for_training(client, dataset_id)
    assert result.status == TrainingStatus.SUCCESS, result.error_details
    assert result.num_connections == in_range
    epochs = status_details(client)["epochs"]
    assert len(result.training_dataset_loss) == len(result.validation_dataset_loss) == epochs
    assert result.validation_dataset_histogram is not None
    assert len(result.validation_dataset_histogram.hist) == 50
    assert result.mean is not None and result.quantile_99 is not None

    detailed = client.get_dataset(dataset_id, logs=True, bin_count=10).latest_result
    assert detailed is not None and detailed.validation_dataset_histogram is not None
    assert len(detailed.validation_dataset_histogram.bin_edges) == 11
    assert detailed.training_log
    assert dataset_id in [dataset.id for dataset in client.list_datasets(logs=False, bin_count=3).items]

    previously_active = active_dataset_id(client)
    client.start_analyzing(dataset_id)
    try:
        assert client.get_dataset(dataset_id).is_active
        internal = client.get_internal_status()
        assert internal is not None and internal.dataset_id == dataset_id
        with pytest.raises(ConflictError):
            client.delete_dataset(dataset_id)
        with pytest.raises(ConflictError):
            client.update_dataset(dataset_id, created)
        client.stop_analyzing()
        assert not client.get_dataset(dataset_id).is_active
    finally:
        if previously_active is not None:
            client.start_analyzing(previously_active)

    client.delete_dataset(dataset_id)
    with pytest.raises(NotFoundError):
        client.get_dataset(dataset_id)


def test_settings_round_trip(client: UebaClient) -> None:
    anomaly = client.get_anomaly_settings()
    configuration = client.get_configuration()
    other_action = AnomalyAction.AUDIT if anomaly.action == AnomalyAction.BLOCK else AnomalyAction.BLOCK
    try:
        client.set_anomaly_settings(action=other_action, threshold=0.42)
        changed = client.get_anomaly_settings()
        assert (changed.action, changed.threshold) == (other_action, 0.42)

        client.set_configuration(address="ueba.example.com:8443", trust_anchors="PEM of the engine's CA")
        assert client.get_configuration().address == "ueba.example.com:8443"
    finally:
        client.set_anomaly_settings(anomaly)
        client.set_configuration(configuration)
    assert client.get_anomaly_settings() == anomaly


def test_setup_script_and_status(client: UebaClient) -> None:
    session_id = client.create_setup_script_session()
    script = client.download_setup_script(session_id)
    status = client.get_status()
    internal = client.get_internal_status()

    assert script.startswith(b"#!")
    assert status.status == "RUNNING"
    assert status.start_time is not None
    assert internal is not None


def test_errors_over_real_http(client: UebaClient, reference_server: RunningServer) -> None:
    backwards = TimeRange(start=datetime(2024, 2, 1), end=datetime(2024, 1, 1))
    with pytest.raises(BadRequestError) as caught:
        client.count_connections(backwards)
    assert caught.value.property is not None and caught.value.property in str(caught.value)

    with pytest.raises(NotFoundError):
        client.get_dataset("00000000-0000-4000-8000-000000000000")

    wrong_secret = reference_server.client(client_secret="not-the-secret")
    with wrong_secret, pytest.raises(AuthenticationError):
        wrong_secret.get_anomaly_settings()

    viewer = reference_server.client(
        client_id=reference_server.view_client_id, client_secret=reference_server.view_client_secret
    )
    with viewer:
        viewer.list_datasets()
        with pytest.raises(PermissionDeniedError):
            viewer.stop_analyzing()
