"""The SQLite store on its own (a real database file): loading windows, sampling big datasets, and the
single-TRAINING and single-active rules that SQLite itself enforces."""

from __future__ import annotations

import re
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ueba_server.connections import ConnectionCounter, ConnectionStore, Window
from ueba_server.database import SCHEMA, Database
from ueba_server.dataset_store import DatasetConflict, DatasetStore
from ueba_server.generator import GeneratorSettings, generate_connections
from ueba_server.schemas import DatasetRequest

from .helpers import start_run

SETTINGS = GeneratorSettings(connections=20_000, days=60, end=datetime(2025, 1, 1, tzinfo=UTC), seed=8)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> ConnectionStore:
    database = Database(tmp_path_factory.mktemp("store") / "ueba.sqlite3")
    database.initialise()
    connections = ConnectionStore(database)
    assert connections.insert(generate_connections(SETTINGS)) == SETTINGS.connections
    return connections


def window_of(times: np.ndarray) -> Window:
    low, high = np.quantile(times, [0.1, 0.9]).astype(np.int64)
    middle = int(np.quantile(times, 0.5))
    excluded = np.array([[middle, middle + 86_400_000_000]], dtype=np.int64)
    return Window(int(low), int(high), excluded)


def test_load_returns_exactly_the_window(store: ConnectionStore) -> None:
    times = store.sorted_start_times()
    window = window_of(times)
    frame = store.load(window)
    assert len(frame) == ConnectionCounter(store).count(window)
    starts = frame["start_us"].to_numpy()
    assert (starts >= window.start_us).all() and (starts < window.end_us).all()
    assert not window.excludes(starts).any()
    assert frame["is_anomaly"].dtype == bool


def test_a_limit_gives_a_seeded_uniform_sample_of_the_window(store: ConnectionStore) -> None:
    window = window_of(store.sorted_start_times())
    whole = store.load(window)
    sample = store.load(window, limit=3_000, seed=1)
    assert len(sample) == 3_000
    assert not window.excludes(sample["start_us"].to_numpy()).any()
    assert sample["start_us"].isin(whole["start_us"]).all()
    pd.testing.assert_frame_equal(sample, store.load(window, limit=3_000, seed=1))
    assert not sample["start_us"].equals(store.load(window, limit=3_000, seed=2)["start_us"])
    # Uniform: the sample's median start is close to the window's.
    assert abs(sample["start_us"].median() - whole["start_us"].median()) < 0.05 * np.ptp(whole["start_us"])
    pd.testing.assert_frame_equal(store.load(window, limit=len(whole)), whole)


def test_a_window_of_the_table_read_ahead_is_what_a_run_would_load(store: ConnectionStore) -> None:
    """A standby worker reads a small table whole; a run then takes its window from it: the very frame a
    load of the window gives, row for row and in order."""
    times = store.sorted_start_times()
    whole = store.whole_table(limit=SETTINGS.connections)
    assert whole is not None and whole.version == store.version()
    middle = int(times[len(times) // 2])
    windows = [
        Window(),
        window_of(times),
        Window(start_us=middle),  # open end
        Window(end_us=middle),  # open start, the bound itself left out
        Window(int(times[0]), int(times[-1]) + 1, np.array([[int(times[10]), int(times[5_000])]])),
    ]
    for window in windows:
        expected = store.load(window, limit=SETTINGS.connections, seed=3, labels=False)
        pd.testing.assert_frame_equal(whole.window(window), expected)
    empty = Window(middle, middle)
    assert whole.window(empty).empty and store.load(empty, labels=False).empty


def test_rows_of_the_same_start_keep_the_order_they_were_written_in(tmp_path: Path) -> None:
    database = Database(tmp_path / "ueba.sqlite3")
    database.initialise()
    connections = ConnectionStore(database)
    written = pd.concat(generate_connections(GeneratorSettings(connections=60, seed=2)), ignore_index=True)
    # Three starts only, given out of time order: each start is shared by about twenty rows.
    written["start_us"] = np.array([3, 1, 2])[np.arange(len(written)) % 3] * 1_000_000
    written["user"] = [f"writer-{number:03d}" for number in range(len(written))]
    connections.insert([written])
    loaded = connections.load(Window(), labels=False)
    for start, rows in loaded.groupby("start_us"):
        assert rows["user"].tolist() == written.loc[written["start_us"] == start, "user"].tolist()
    whole = connections.whole_table(limit=len(written))
    assert whole is not None
    pd.testing.assert_frame_equal(whole.window(Window()), loaded)


def test_a_table_over_the_limit_is_not_read_ahead_and_an_import_changes_its_version(tmp_path: Path) -> None:
    database = Database(tmp_path / "ueba.sqlite3")
    database.initialise()
    connections = ConnectionStore(database)
    connections.insert(generate_connections(GeneratorSettings(connections=1_000, seed=4)))
    assert connections.whole_table(limit=999) is None
    read = connections.whole_table(limit=1_000)
    assert read is not None and len(read.connections) == 1_000
    connections.insert([read.connections.head(10).assign(is_anomaly=False)])
    assert read.version != connections.version()


def test_the_counter_follows_imports(store: ConnectionStore, tmp_path: Path) -> None:
    database = Database(tmp_path / "ueba.sqlite3")
    database.initialise()
    connections = ConnectionStore(database)
    counter = ConnectionCounter(connections)
    assert counter.count_if_current(Window()) is None  # nothing loaded yet
    assert counter.count(Window()) == 0
    assert counter.count_if_current(Window()) == 0
    connections.insert([store.load(Window()).head(100)])
    # What the event loop asks first: the times held are of the table before the import.
    assert counter.count_if_current(Window()) is None
    assert counter.count(Window()) == 100
    assert counter.count_if_current(Window()) == 100


def test_sqlite_refuses_a_second_training_and_a_second_active_dataset(tmp_path: Path) -> None:
    database = Database(tmp_path / "ueba.sqlite3")
    database.initialise()
    datasets = DatasetStore(database, tmp_path / "models")
    request = DatasetRequest.model_validate({"time_range_settings": {}})
    first, second = datasets.create(request, "tester"), datasets.create(request, "tester")
    run = start_run(datasets, first, set_active=True)
    with pytest.raises(DatasetConflict, match="Training is already on-going"):
        start_run(datasets, first)
    start_run(datasets, second)  # other datasets may train

    assert datasets.finish_success(run, np.linspace(0.0, 1.0, 2_000), "done")
    assert not datasets.finish_failure(run, "LATE", "a finished run cannot fail any more")
    assert datasets.active_dataset_id() == first
    histogram = datasets.get(first, bin_count=7)["training_results"][0]["validation_dataset_histogram"]
    assert len(histogram["hist"]) == 7 and sum(histogram["hist"]) == 2_000


def trained(datasets: DatasetStore, losses: np.ndarray) -> str:
    dataset_id = datasets.create(DatasetRequest.model_validate({"time_range_settings": {}}), "tester")
    run = start_run(datasets, dataset_id)
    assert datasets.finish_success(run, losses, "done")
    return dataset_id


def histograms(listing: list[dict]) -> dict[str, dict]:
    return {item["id"]: item["training_results"][-1]["validation_dataset_histogram"] for item in listing}


def test_listings_rebin_each_histogram_once_per_bin_count_and_forget_changed_results(tmp_path: Path) -> None:
    database = Database(tmp_path / "ueba.sqlite3")
    database.initialise()
    datasets = DatasetStore(database, tmp_path / "models", histogram_cache_size=3)
    rng = np.random.default_rng(5)
    first, second = trained(datasets, rng.gamma(2.0, size=1_000)), trained(datasets, rng.gamma(3.0, size=800))

    listed = histograms(datasets.list(bin_count=7))
    assert (datasets.histograms.misses, datasets.histograms.hits) == (2, 0)
    listed[first]["hist"][0] = -1  # a caller changing its answer does not change the next one's
    fresh = histograms(DatasetStore(database, tmp_path / "models").list(bin_count=7))
    assert histograms(datasets.list(bin_count=7)) == fresh
    assert (datasets.histograms.misses, datasets.histograms.hits) == (2, 2)
    assert sum(histograms(datasets.list(bin_count=7))[first]["hist"]) == 1_000

    nine = histograms(datasets.list(bin_count=9))  # another bin count is binned anew, the cache stays bounded
    assert [len(nine[first]["hist"]), sum(nine[second]["hist"])] == [9, 800]
    assert datasets.histograms.misses == 4 and len(datasets.histograms) == 3

    datasets.update(first, DatasetRequest.model_validate({"time_range_settings": {}}), "tester")
    assert len(datasets.histograms) == 2  # its 9-bin histogram is gone (its 7-bin one made room before)
    run = start_run(datasets, first)
    assert datasets.finish_success(run, rng.gamma(2.0, size=300), "retrained")
    assert sum(histograms(datasets.list(bin_count=9))[first]["hist"]) == 300

    off = DatasetStore(database, tmp_path / "models", histogram_cache_size=0)
    assert histograms(off.list(bin_count=9)) == histograms(datasets.list(bin_count=9))
    assert len(off.histograms) == 0


def test_a_finished_run_stores_its_default_histogram_so_listings_never_rebin_it(tmp_path: Path) -> None:
    database = Database(tmp_path / "ueba.sqlite3")
    database.initialise()
    datasets = DatasetStore(database, tmp_path / "models", histogram_cache_size=1)
    losses = np.random.default_rng(2).gamma(2.0, size=1_000)
    ids = [trained(datasets, losses) for _ in range(3)]  # more runs than the cache holds

    for _ in range(2):
        listed = histograms(datasets.list())
    assert (datasets.histograms.misses, datasets.histograms.hits) == (0, 0)  # the cache is not even asked
    counts, edges = np.histogram(losses.astype(np.float32).astype(np.float64), bins=50)
    for dataset_id in ids:
        assert listed[dataset_id] == {"hist": counts.tolist(), "bin_edges": edges.tolist()}
    assert len(histograms(datasets.list(bin_count=7))[ids[0]]["hist"]) == 7  # other bin counts re-bin
    assert datasets.histograms.misses == 3


def test_a_store_of_an_older_version_gains_the_new_columns_and_wire_form_ranges(tmp_path: Path) -> None:
    old_schema = re.sub(r"validation_losses BLOB,.*?\n\);", "validation_losses BLOB\n);", SCHEMA, flags=re.S)
    assert "default_histogram" not in old_schema.split("CREATE TABLE IF NOT EXISTS connections")[0]
    with sqlite3.connect(tmp_path / "ueba.sqlite3") as connection:
        connection.executescript(old_schema)
        connection.execute(
            "INSERT INTO datasets (id, time_range, created, created_by, updated, updated_by)"
            " VALUES ('old', ?, 'c', 'x', 'u', 'x')",
            ('{"start":"2024-03-01T00:00:00.250000Z","end":null,"exclude":[]}',),
        )
    database = Database(tmp_path / "ueba.sqlite3")
    database.initialise()
    datasets = DatasetStore(database, tmp_path / "models")
    datasets.canonicalise_time_ranges()

    assert datasets.get("old")["time_range_settings"] == {
        "start": "2024-03-01T00:00:00.25Z", "end": None, "exclude": []
    }
    run = start_run(datasets, "old")  # the added columns are there
    assert datasets.run_time_range(run).start == datetime(2024, 3, 1, 0, 0, 0, 250_000, tzinfo=UTC)
