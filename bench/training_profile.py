"""Where a training's time goes: one run of the training worker's code in this process, under cProfile.

    python -m bench.training_profile [--connections 150000] [--epochs 15] [--top 25]

Builds a store of `--connections` generated connections with one dataset over all of them, then runs
`ueba_server.training.run_training` on it as a worker would (one BLAS thread), and prints the training
log and the functions with the most cumulative time.
"""

from __future__ import annotations

import cProfile
import os
import pstats
import tempfile
import time
from pathlib import Path

from bench import benchmark_parser
from bench.stores import build_store
from ueba_server.config import FEATURE_CONFIG_NAME, MAX_TRAINING_CONNECTIONS, ServerConfig
from ueba_server.dataset_store import DatasetStore
from ueba_server.schemas import DatasetRequest
from ueba_server.training import run_training
from ueba_server.training_job import TrainingJob


def profile(data_dir: Path, connections: int, epochs: int, top: int) -> None:
    config = ServerConfig(data_dir=data_dir)
    store = build_store(data_dir, connections).store
    datasets = DatasetStore(store.database, config.models_dir)
    dataset_id = datasets.create(DatasetRequest.model_validate({"time_range_settings": {}}), "bench")
    count = min(connections, MAX_TRAINING_CONNECTIONS)
    result_id = datasets.start_training(dataset_id, FEATURE_CONFIG_NAME, count, set_active=False)
    job = TrainingJob(config.database_path, config.models_dir, result_id, dataset_id, epochs,
                      seed=config.seed + result_id, server_pid=os.getppid(),
                      connection_limit=MAX_TRAINING_CONNECTIONS,
                      available_connections=connections)  # fmt: skip
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.runcall(run_training, job)
    seconds = time.perf_counter() - started
    result = datasets.get(dataset_id, logs=True)["training_results"][-1]
    print(result["training_log"])
    print(f"{result['status']} in {seconds:.2f} s; q99 {result['quantile_99']:.6f}")
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(top)


def main() -> None:
    parser = benchmark_parser(__doc__)
    parser.add_argument("--connections", type=int, default=150_000)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--top", type=int, default=25)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ueba-bench-") as data_dir:
        profile(Path(data_dir), options.connections, options.epochs, options.top)


if __name__ == "__main__":
    main()
