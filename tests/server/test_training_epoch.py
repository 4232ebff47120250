"""What one epoch of a training computes: float32 features, and the training loss taken from the fit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ueba_server.features import feature_pipeline
from ueba_server.generator import GeneratorSettings, generate_connections
from ueba_server.training import fitted_training_loss, new_autoencoder, reconstruction_losses, warm_up


@pytest.fixture(scope="module")
def encoded() -> np.ndarray:
    connections = pd.concat(generate_connections(GeneratorSettings(connections=3_000, seed=3)))
    return feature_pipeline().fit_transform(connections.drop(columns="is_anomaly"))


def test_the_feature_matrix_is_dense_float32(encoded: np.ndarray) -> None:
    assert isinstance(encoded, np.ndarray)
    assert encoded.dtype == np.float32
    assert encoded.flags.c_contiguous
    assert np.isfinite(encoded).all()


def test_one_connection_of_each_kind_still_encodes_dense() -> None:
    """With one value in every category and no zero cell, the columns are stacked dense, not sparse."""
    connection = pd.DataFrame(
        {
            "start_us": [3 * 3_600_000_000],  # 03:00: no time feature is exactly zero
            "duration_seconds": [5.0],  # and another below: standardised, neither is zero
            "user": ["alice"],
            "source_address": ["10.0.0.1"],
            "target_host": ["db"],
            "target_account": ["root"],
            "protocol": ["SSH"],
        }
    )
    features = feature_pipeline()
    encoded = features.fit_transform(pd.concat([connection, connection.assign(duration_seconds=50.0)]))
    assert not features.named_steps["encode"].sparse_output_
    assert isinstance(encoded, np.ndarray)
    assert encoded.shape == (2, 10)


def test_the_training_loss_from_the_fit_is_the_mean_squared_reconstruction_error(encoded: np.ndarray) -> None:
    """With a learning rate too small to move the weights within an epoch, the loss the fit accumulated
    over its mini-batches, converted, is the mean squared error a separate forward pass measures."""
    autoencoder = new_autoencoder(seed=5).set_params(learning_rate_init=1e-12)
    autoencoder.partial_fit(encoded, encoded)
    separately = float(reconstruction_losses(autoencoder, encoded).mean())
    assert fitted_training_loss(autoencoder, len(encoded)) == pytest.approx(separately, rel=1e-4)
    # The L2 penalty in scikit-learn's own loss_ is taken out: loss_ alone is not on this scale.
    assert 2 * autoencoder.loss_ != pytest.approx(separately, rel=1e-4)


def test_the_standby_warm_up_runs_every_step_of_a_training() -> None:
    """A standby worker swallows an error of its warm-up (the run then pays the first calls itself): here
    it raises, should a step of the training no longer fit what the warm-up feeds it."""
    warm_up()
