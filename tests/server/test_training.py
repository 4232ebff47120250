"""Trainings on the shared server: the model really learns, anomalies stand out, and the rules of
training and activation hold."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from ueba_api import ConflictError, Dataset, TimeRange, TrainingResult, UebaClient
from ueba_server.evaluation import score_dataset
from ueba_server.launch import RunningServer

from .helpers import last_days, remove_dataset, wait_for_training


@pytest.fixture(scope="module")
def whole_history(reference_server: RunningServer) -> Iterator[tuple[str, TrainingResult]]:
    """One dataset over the whole generated history, trained once for the module."""
    with reference_server.client() as api:
        dataset_id = api.create_dataset(Dataset(time_range_settings=TimeRange(), comment="whole history"))
        try:
            api.train_dataset(dataset_id)
            result = wait_for_training(api, dataset_id)
            assert result.status == "SUCCESS", result.error_details
            yield dataset_id, result
        finally:
            remove_dataset(api, dataset_id)


def test_validation_loss_falls_clearly(whole_history: tuple[str, TrainingResult]) -> None:
    _, result = whole_history
    losses = result.validation_dataset_loss
    assert len(losses) == len(result.training_dataset_loss) >= 3
    assert losses[-1] < 0.8 * losses[0]
    assert result.training_dataset_loss[-1] < 0.8 * result.training_dataset_loss[0]


def test_the_stored_validation_losses_are_the_last_epochs(whole_history: tuple[str, TrainingResult]) -> None:
    """The histogram's losses come from the last epoch's validation pass, not from another one."""
    _, result = whole_history
    assert result.mean == pytest.approx(result.validation_dataset_loss[-1], rel=1e-5)


def test_labelled_anomalies_exceed_q99_far_more_often_than_normal_connections(
    whole_history: tuple[str, TrainingResult], reference_server: RunningServer
) -> None:
    dataset_id, result = whole_history
    scores = score_dataset(reference_server.data_dir, dataset_id)
    assert len(scores) == result.num_connections
    above = scores["loss"] > result.quantile_99
    anomalies, normal = above[scores["is_anomaly"]], above[~scores["is_anomaly"]]
    assert len(anomalies) >= 30
    assert normal.mean() < 0.03  # about 1 %: q99 comes from the same distribution
    assert anomalies.mean() > 0.4
    assert anomalies.mean() > 10 * normal.mean()


def test_training_log_only_with_logs_true(whole_history: tuple[str, TrainingResult], api: UebaClient) -> None:
    dataset_id, result = whole_history
    assert result.training_log is None
    log = api.get_dataset(dataset_id, logs=True).latest_result.training_log
    assert f"connections: {result.num_connections}" in log
    assert "epoch 1/" in log and "finished" in log
    listed = {item.id: item for item in api.list_datasets(logs=True).items}
    assert listed[dataset_id].latest_result.training_log == log


def test_fewer_than_5000_connections_is_a_clear_failure(
    api: UebaClient, make_dataset: Callable[..., str]
) -> None:
    time_range = last_days(api, 2)
    count = api.count_connections(time_range)
    assert 0 < count < 5_000
    dataset_id = make_dataset(time_range)
    assert api.train_dataset(dataset_id) == count
    result = wait_for_training(api, dataset_id)
    assert result.status == "FAILURE" and result.error_code == "NOT_ENOUGH_CONNECTIONS"
    assert f"{count:,} connections" in result.error_details and "at least 5,000" in result.error_details
    assert result.num_connections == count and result.validation_dataset_histogram is None


def test_a_second_training_of_the_same_dataset_is_409(
    api: UebaClient, make_dataset: Callable[..., str]
) -> None:
    dataset_id = make_dataset(last_days(api, 30))
    api.train_dataset(dataset_id)
    with pytest.raises(ConflictError, match="Training is already on-going"):
        api.train_dataset(dataset_id)
    assert wait_for_training(api, dataset_id).status == "SUCCESS"
    api.train_dataset(dataset_id)  # once it is over, retraining is fine
    assert wait_for_training(api, dataset_id).status == "SUCCESS"
    assert [result.status for result in api.get_dataset(dataset_id).training_results] == [
        "SUCCESS",
        "SUCCESS",
    ]


def test_activation_after_training_keeps_a_single_active_dataset(
    api: UebaClient, make_dataset: Callable[..., str]
) -> None:
    time_range = last_days(api, 30)
    by_query = make_dataset(time_range)
    by_flag = make_dataset(time_range, use_for_inference_once_trained=True)
    plain = make_dataset(time_range)
    try:
        api.train_dataset(by_query, set_active_after_training=True)
        assert wait_for_training(api, by_query).status == "SUCCESS"
        assert api.get_dataset(by_query).is_active

        api.train_dataset(plain)
        assert wait_for_training(api, plain).status == "SUCCESS"
        assert api.get_dataset(by_query).is_active and not api.get_dataset(plain).is_active

        api.train_dataset(by_flag)
        assert wait_for_training(api, by_flag).status == "SUCCESS"
        active = [item.id for item in api.list_datasets().items if item.is_active]
        assert active == [by_flag]
        assert api.get_internal_status().dataset_id == by_flag

        with pytest.raises(ConflictError, match="stop analyzing"):
            api.update_dataset(by_flag, Dataset(time_range_settings=time_range))
        api.start_analyzing(plain)
        assert [item.id for item in api.list_datasets().items if item.is_active] == [plain]
    finally:
        api.stop_analyzing()
    assert not any(item.is_active for item in api.list_datasets().items)
    assert api.get_internal_status().dataset_id is None


def test_a_retraining_is_a_new_model_with_its_own_seed(
    whole_history: tuple[str, TrainingResult], api: UebaClient
) -> None:
    """A retraining starts from another random initialisation, as a real engine's does: the reviewer sees
    run-to-run spread. Both runs still use the same connections and both learn."""
    dataset_id, first = whole_history
    api.train_dataset(dataset_id)
    second = wait_for_training(api, dataset_id)
    assert second.status == "SUCCESS", second.error_details
    assert second.num_connections == first.num_connections
    assert second.validation_dataset_loss != first.validation_dataset_loss
    assert second.validation_dataset_loss[-1] < 0.8 * second.validation_dataset_loss[0]
    logs = [run.training_log for run in api.get_dataset(dataset_id, logs=True).training_results]
    seeds = [log.split("seed: ")[1].split()[0] for log in logs]
    assert seeds[0] != seeds[1]
