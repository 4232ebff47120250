"""Fixtures of the analysis tests: API objects parsed from a wire payload, as the client would."""

from __future__ import annotations

from pathlib import Path

import pytest

from ueba_api.models import Dataset, DatasetList, TrainingResult

PAYLOADS = Path(__file__).parent / "payloads"


@pytest.fixture(scope="session")
def dataset_list() -> DatasetList:
    """Three datasets: trained (a FAILURE then a SUCCESS), training, never trained."""
    return DatasetList.model_validate_json((PAYLOADS / "dataset_list.json").read_text())


@pytest.fixture(scope="session")
def trained_dataset(dataset_list: DatasetList) -> Dataset:
    return dataset_list.items[0]


@pytest.fixture(scope="session")
def trained(trained_dataset: Dataset) -> TrainingResult:
    """A healthy SUCCESS result: 12 epochs, 24 histogram bins, 45,123 connections."""
    return trained_dataset.training_results[1]
