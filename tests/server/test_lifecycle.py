"""The whole lifecycle of a dataset, over real HTTP with our client: over plain HTTP on the shared
server, and over HTTPS with the certificate the server generates."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ueba_api import (
    ApiConnectionError,
    ConflictError,
    Dataset,
    NotFoundError,
    TimeRange,
    TrainingResult,
    UebaClient,
)
from ueba_server.launch import RunningServer, start_server

from .helpers import last_days, remove_dataset, wait_for_training

VALIDATION_SHARE = 0.2  # the server's split: the validation histogram holds this share of the connections


def check_statistics_against_histogram(result: TrainingResult) -> None:
    histogram = result.validation_dataset_histogram
    assert histogram is not None
    hist, edges = np.array(histogram.hist), np.array(histogram.bin_edges)
    assert len(hist) == 50 and len(edges) == len(hist) + 1
    assert hist.sum() == math.ceil(result.num_connections * VALIDATION_SHARE)
    assert np.all(np.diff(edges) > 0)
    assert edges[0] <= result.mean <= result.quantile_99 <= result.quantile_999 <= edges[-1]
    assert 0 < result.std < result.quantile_999
    # The 99th percentile leaves about 1 % of the validation losses above it.
    above = hist[edges[1:] > result.quantile_99].sum()
    assert above >= 0.005 * hist.sum()


def check_rebinning(api: UebaClient, dataset_id: str, default: TrainingResult) -> None:
    default_edges = default.validation_dataset_histogram.bin_edges
    for bin_count in (10, 200):
        result = api.get_dataset(dataset_id, bin_count=bin_count).latest_result
        histogram = result.validation_dataset_histogram
        assert len(histogram.hist) == bin_count and len(histogram.bin_edges) == bin_count + 1
        assert sum(histogram.hist) == sum(default.validation_dataset_histogram.hist)
        assert histogram.bin_edges[0] == default_edges[0] and histogram.bin_edges[-1] == default_edges[-1]
        assert (result.mean, result.quantile_99) == (default.mean, default.quantile_99)


def run_lifecycle(api: UebaClient, server: RunningServer, time_range: TimeRange) -> None:
    # 1. Create, count, train, poll to SUCCESS.
    dataset_id = api.create_dataset(Dataset(time_range_settings=time_range, comment="lifecycle"))
    try:
        count = api.count_connections(time_range)
        assert count >= 5_000
        assert api.train_dataset(dataset_id) == count
        result = wait_for_training(api, dataset_id)
        assert result.status == "SUCCESS", result.error_details
        assert result.num_connections == count
        assert len(result.training_dataset_loss) == len(result.validation_dataset_loss) > 0
        dataset = api.get_dataset(dataset_id)
        assert dataset.last_training is not None and dataset.created_by == server.client_id

        # 2. Statistics agree with the histogram; 3. other bin counts re-bin the same losses.
        check_statistics_against_histogram(result)
        check_rebinning(api, dataset_id, result)

        # 4. An update wipes the history.
        api.update_dataset(dataset_id, Dataset(time_range_settings=time_range, comment="updated"))
        updated = api.get_dataset(dataset_id)
        assert updated.training_results == [] and updated.last_training is None
        assert updated.comment == "updated" and updated.updated_by == server.client_id

        # 5. Activate (a SUCCESS training first); deleting is refused while active; stop; delete.
        with pytest.raises(ConflictError):
            api.start_analyzing(dataset_id)
        api.train_dataset(dataset_id)
        assert wait_for_training(api, dataset_id).status == "SUCCESS"
        api.start_analyzing(dataset_id)
        assert api.get_dataset(dataset_id).is_active
        with pytest.raises(ConflictError, match="stop analyzing"):
            api.delete_dataset(dataset_id)
        api.stop_analyzing()
        assert not api.get_dataset(dataset_id).is_active
        api.delete_dataset(dataset_id)
        with pytest.raises(NotFoundError):
            api.get_dataset(dataset_id)
    finally:
        remove_dataset(api, dataset_id)


def test_lifecycle_over_http(api: UebaClient, reference_server: RunningServer) -> None:
    run_lifecycle(api, reference_server, last_days(api, 60))


def test_lifecycle_over_https_with_the_generated_certificate(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    data_dir = tmp_path_factory.mktemp("https-server")
    with start_server(data_dir, tls=True, connections=15_000, seed=5, epochs=3) as server:
        assert server.base_url.startswith("https://") and server.ca_cert == data_dir / "tls-cert.pem"
        with server.client() as api:
            run_lifecycle(api, server, TimeRange())


def test_https_refuses_a_client_that_does_not_trust_the_certificate(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    with (
        start_server(tmp_path_factory.mktemp("https-untrusted"), tls=True, connections=6_000) as server,
        server.client(ca_cert=None, max_retries=0) as untrusting,
        pytest.raises(ApiConnectionError),
    ):
        untrusting.get_status()
