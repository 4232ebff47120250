"""The run comparison page over real HTTP: two runs of two datasets, side by side and overlaid."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from streamlit.dataframe_util import convert_arrow_bytes_to_pandas_df
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import AlertBase, Block

from tests.app.conftest import history_month, train_and_wait, unescaped, vega_specs
from ueba_api import frames, quality
from ueba_api.client import UebaClient
from ueba_api.models import Dataset

COMPARE_PAGE = "pages/compare.py"
STATISTICS = {
    "Connections": lambda result: result.num_connections,
    "Epochs": lambda result: len(result.validation_dataset_loss),
    "Final training loss": lambda result: result.training_dataset_loss[-1],
    "Final validation loss": lambda result: result.validation_dataset_loss[-1],
    "Validation loss mean": lambda result: result.mean,
    "Validation loss std": lambda result: result.std,
    "Validation loss q99": lambda result: result.quantile_99,
    "Validation loss q999": lambda result: result.quantile_999,
}


def open_compare(app: AppTest) -> AppTest:
    app.run()
    app.switch_page(COMPARE_PAGE).run()
    assert not app.exception, app.exception
    return app


def alerts(node: Block) -> list[tuple[str, str]]:
    """(kind, text) of every alert (error, warning, info, success) under `node`, in page order."""
    found = []
    for _, child in sorted(getattr(node, "children", {}).items()):
        if isinstance(child, AlertBase):
            found.append((child.type, child.value))
        found.extend(alerts(child))
    return found


def pick(app: AppTest, side: str, run: frames.Run) -> None:
    box = app.selectbox(key=f"compare.run.{side}")
    [index] = [i for i, option in enumerate(box.options) if option.startswith(f"{run.label} · ")]
    box.set_value(index).run()


def test_two_runs_of_two_datasets_side_by_side_equal_the_api(
    app: AppTest, api: UebaClient, new_dataset: Callable[..., Dataset]
) -> None:
    _, end = history_month(api)
    month = new_dataset(comment="compare month")
    shorter = new_dataset(comment="compare 24 days", start=end - timedelta(days=24), end=end)
    train_and_wait(api, month.id)
    train_and_wait(api, shorter.id)
    datasets = api.list_datasets().items
    runs = {run.dataset_id: run for run in frames.training_runs(datasets)}
    first, second = runs[month.id], runs[shorter.id]

    open_compare(app)
    pick(app, "A", first)
    pick(app, "B", second)
    assert not app.exception, app.exception
    # Each run's quality hints, A's then B's, exactly as quality_hints gives them for the API's result
    # (whatever its thresholds); and no warning that the runs are the same.
    expected = [(hint.severity, hint.message) for run in (first, second)
                for hint in quality.quality_hints(run.result)]
    assert alerts(app.main) == expected

    [table] = app.dataframe
    statistics = table.value
    column_a, column_b = f"A: {first.label}", f"B: {second.label}"
    assert list(statistics.columns) == [column_a, column_b, "B − A", "B vs A (%)"]
    for name, read in STATISTICS.items():
        a, b = read(first.result), read(second.result)
        assert (statistics.loc[name, column_a], statistics.loc[name, column_b]) == (a, b), name
        assert statistics.loc[name, "B − A"] == pytest.approx(b - a), name
        assert statistics.loc[name, "B vs A (%)"] == pytest.approx((b / a - 1) * 100), name
    assert first.result.num_connections != second.result.num_connections
    # What the table shows: counts with separators, losses to five significant digits, missing as "—".
    shown = convert_arrow_bytes_to_pandas_df(table.proto.arrow_data.styler.display_values)
    shown.index = statistics.index
    shown.columns = statistics.columns
    a, b = first.result.num_connections, second.result.num_connections
    connections = shown.loc["Connections"].tolist()
    assert [int(text.replace(",", "")) for text in connections[:3]] == [a, b, b - a]
    assert all("," in text for text in connections[:2]), "both runs have thousands of connections"
    assert connections[2].startswith("+" if b > a else "-")
    assert float(connections[3].replace(",", "")) == pytest.approx((b / a - 1) * 100, abs=0.005)
    for column, result in ((column_a, first.result), (column_b, second.result)):
        assert float(shown.loc["Validation loss q99", column]) == pytest.approx(result.quantile_99, rel=5e-5)
    assert table.proto.placeholder == "—"

    loss_chart, histogram_chart = vega_specs(app)
    # Loss curves overlaid: both runs' losses, per epoch and split, each run named by its side first (a
    # legend shortens long names from the end).
    drawn = {(row["run"], row["epoch"], row["split"]): row["loss"]
             for row in loss_chart["datasets"][loss_chart["data"]["name"]]}
    expected = frames.loss_frame([first, second])
    sides = {first.label: f"A: {first.label}", second.label: f"B: {second.label}"}
    assert drawn == {(sides[row.run], row.epoch, row.split): row.loss for row in expected.itertuples()}
    # Histograms on one scale: each run's bars as shares of its own validation connections.
    bars_layer, rules_layer = histogram_chart["layer"]
    bars = histogram_chart["datasets"][bars_layer["data"]["name"]]
    for run in (first, second):
        histogram = run.result.validation_dataset_histogram
        mine = [bar for bar in bars if bar["run"] == sides[run.label]]
        assert [bar["count"] for bar in mine] == histogram.hist
        assert [bar["bin_start"] for bar in mine] == histogram.bin_edges[:-1]
        assert sum(bar["share"] for bar in mine) == pytest.approx(1)
    rules = histogram_chart["datasets"][rules_layer["data"]["name"]]
    assert {row["run"]: row["quantile_99"] for row in rules} == {
        sides[first.label]: first.result.quantile_99, sides[second.label]: second.result.quantile_99}

    # One bin count for both histograms, fetched again from the server.
    app.number_input(key="compare.bins").set_value(12).run()
    _, histogram_chart = vega_specs(app)
    bars = histogram_chart["datasets"][histogram_chart["layer"][0]["data"]["name"]]
    rebinned = api.get_dataset(month.id, bin_count=12).latest_result.validation_dataset_histogram
    assert [bar["count"] for bar in bars if bar["run"] == sides[first.label]] == rebinned.hist

    # The same run twice is allowed, and said (after its hints, as the API now gives them: 12 bins).
    pick(app, "B", first)
    hints = [(hint.severity, hint.message) for hint in quality.quality_hints(
        api.get_dataset(month.id, bin_count=12).latest_result)]
    assert alerts(app.main) == hints * 2 + [
        ("warning", "Run A and run B are the same run: pick two different runs to compare.")]


def test_an_unreachable_server_is_said_in_words(make_app: Callable[..., AppTest]) -> None:
    app = open_compare(make_app(base_url="http://127.0.0.1:9", max_retries=0))
    [error] = app.error
    assert unescaped(error.value).startswith("Cannot reach the server, so could not load the training runs.")
