"""One training run, executed in a worker process so that the API never waits for it.

The autoencoder is scikit-learn's MLPRegressor with a bottleneck, learning to reproduce its input. It is
fed epoch by epoch with `partial_fit` (one pass of shuffled mini-batches each), and after every epoch
the training and validation losses go to SQLite, so a client polling the run sees them grow. The loss of
a connection is its mean squared reconstruction error over the encoded features.

An epoch costs one pass of the fit and one forward pass over the validation split: the training loss is
the one the fit computed on its mini-batches as it went (as Keras reports it), not a second pass over
the training split, and the last epoch's validation losses are the ones stored for the histogram.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPRegressor
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from ueba_server.config import FEATURE_CONFIG_NAME, MAX_TRAINING_CONNECTIONS
from ueba_server.connections import ConnectionStore, WholeTable, Window
from ueba_server.database import Database
from ueba_server.dataset_store import DatasetStore
from ueba_server.features import feature_pipeline
from ueba_server.generator import GeneratorSettings, generate_connections
from ueba_server.training_job import TrainingJob

VALIDATION_SHARE = 0.2
HIDDEN_LAYERS = (64, 16, 64)
BATCH_SIZE = 256
LEARNING_RATE = 1e-3
WARM_UP_CONNECTIONS = 500


@dataclass
class TrainedModel:
    """What a successful run stores: the fitted feature encoding and the autoencoder."""

    features: Pipeline
    autoencoder: MLPRegressor

    def losses(self, connections: pd.DataFrame) -> np.ndarray:
        return reconstruction_losses(self.autoencoder, self.features.transform(connections))


def reconstruction_losses(autoencoder: MLPRegressor, encoded: np.ndarray) -> np.ndarray:
    # In place: the difference and its square would each be another matrix the size of `encoded`.
    errors = autoencoder.predict(encoded)
    errors -= encoded
    np.square(errors, out=errors)
    return errors.mean(axis=1)


def new_autoencoder(seed: int) -> MLPRegressor:
    return MLPRegressor(
        hidden_layer_sizes=HIDDEN_LAYERS,
        batch_size=BATCH_SIZE,
        learning_rate_init=LEARNING_RATE,
        shuffle=True,
        random_state=seed,
    )


def split(connections: pd.DataFrame, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(training, validation): a seeded shuffle, VALIDATION_SHARE of it for validation."""
    training, validation = train_test_split(
        connections, test_size=VALIDATION_SHARE, random_state=seed, shuffle=True
    )
    return training, validation


def fitted_training_loss(autoencoder: MLPRegressor, samples: int) -> float:
    """The mean squared reconstruction error of the epoch `partial_fit` just ran, from its own `loss_`.

    scikit-learn's `loss_` is the mini-batches' mean of half the squared error plus the L2 penalty
    `alpha / 2 * sum(w**2) / batch size`; without the penalty (taken with the weights at the epoch's
    end) and doubled, it is on the scale of `reconstruction_losses`.
    """
    batches = math.ceil(samples / min(autoencoder.batch_size, samples))
    squared_weights = sum(float(np.dot(layer.ravel(), layer.ravel())) for layer in autoencoder.coefs_)
    penalty = 0.5 * autoencoder.alpha * squared_weights * batches / samples
    return 2.0 * (autoencoder.loss_ - penalty)


def warm_up() -> None:
    """Runs each step of a training once on a few generated connections: what pandas, SciPy and
    scikit-learn import or set up at their first call (about half a second) is then done before a run
    comes. A standby worker calls it while it waits."""
    connections = pd.concat(generate_connections(GeneratorSettings(connections=WARM_UP_CONNECTIONS)))
    training, validation = split(connections.drop(columns="is_anomaly"), seed=0)
    features = feature_pipeline()
    x_training, x_validation = features.fit_transform(training), features.transform(validation)
    with threadpool_limits(limits=1):
        autoencoder = new_autoencoder(seed=0)
        autoencoder.partial_fit(x_training, x_training)
        fitted_training_loss(autoencoder, len(x_training))
        reconstruction_losses(autoencoder, x_validation)


def read_ahead(database_path: Path) -> WholeTable | None:
    """The whole connection table when no window of it would be sampled (see `WholeTable`): a standby
    worker reads it while it waits, and a run whose table has not changed since takes its window from it
    instead of reading it (0.4 s for 150,000 connections)."""
    return ConnectionStore(Database(database_path)).whole_table(MAX_TRAINING_CONNECTIONS)


def run_training(job: TrainingJob, read: WholeTable | None = None) -> None:
    """Worker process entry point, with the table read ahead if any. Every outcome ends up in the run's
    row; nothing is raised."""
    # One BLAS thread: the machine also serves the API (and, in tests, other work).
    with threadpool_limits(limits=1):
        _Run(job, read).execute()


class _Run:
    def __init__(self, job: TrainingJob, read: WholeTable | None) -> None:
        self.job = job
        self.read = read
        self.database = Database(job.database_path)
        self.store = DatasetStore(self.database, job.models_dir)
        self.started = time.perf_counter()

    def log(self, message: str) -> bool:
        return self.store.append_log(self.job.result_id, self._line(message))

    def _line(self, message: str) -> str:
        return f"[{time.perf_counter() - self.started:7.2f}s] {message}"

    def execute(self) -> None:
        try:
            self._train()
        except Exception as error:  # any failure must become a FAILURE result, not a dead worker
            self.store.finish_failure(
                self.job.result_id, "TRAINING_ERROR", f"{type(error).__name__}: {error}"
            )

    def _connections(self, window: Window) -> pd.DataFrame:
        store, read, limit = ConnectionStore(self.database), self.read, self.job.connection_limit
        if read is not None and read.version == store.version() and len(read.connections) <= limit:
            return read.window(window)
        return store.load(window, limit=limit, seed=self.job.seed, labels=False)

    def _train(self) -> None:
        job = self.job
        connections = self._connections(Window.from_request(self.store.run_time_range(job.result_id)))
        training, validation = split(connections, job.seed)
        features = feature_pipeline()
        # fit_transform describes and encodes the training split once (fit, then transform, did it twice).
        x_training, x_validation = features.fit_transform(training), features.transform(validation)
        self.log(
            f"connections: {len(connections)} (of {job.available_connections} in the dataset);"
            f" training: {len(training)}; validation: {len(validation)};"
            f" features: {x_training.shape[1]} ({FEATURE_CONFIG_NAME}); hidden layers: {HIDDEN_LAYERS};"
            f" epochs: {job.epochs}; batch size: {BATCH_SIZE}; seed: {job.seed}"
        )
        autoencoder = new_autoencoder(job.seed)
        for epoch in range(1, job.epochs + 1):
            if os.getppid() != job.server_pid:
                return  # the server is gone; on its restart it declares this run interrupted
            epoch_started = time.perf_counter()
            autoencoder.partial_fit(x_training, x_training)
            training_loss = fitted_training_loss(autoencoder, len(x_training))
            validation_losses = reconstruction_losses(autoencoder, x_validation)
            validation_loss = float(validation_losses.mean())
            line = self._line(
                f"epoch {epoch}/{job.epochs}: training loss {training_loss:.6f}, validation loss"
                f" {validation_loss:.6f} ({time.perf_counter() - epoch_started:.2f}s)"
            )
            if not self.store.record_epoch(job.result_id, training_loss, validation_loss, line):
                return  # cancelled: the dataset was changed or deleted
        weights = self.store.weights_path(job.result_id)
        weights.parent.mkdir(parents=True, exist_ok=True)
        joblib.dump(TrainedModel(features, autoencoder), weights)
        finished = self._line(f"finished: model saved ({weights.stat().st_size} bytes)")
        if not self.store.finish_success(job.result_id, validation_losses, finished):
            weights.unlink(missing_ok=True)


def load_model(store: DatasetStore, result_id: int) -> TrainedModel:
    return joblib.load(store.weights_path(result_id))
