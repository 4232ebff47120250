"""examples/notebook.ipynb runs as it stands: executed in a real Jupyter kernel, top to bottom.

The notebook starts its own embedded reference server (in UEBA_EXAMPLE_DATA_DIR, here a test folder),
trains three datasets and draws the review charts. Its outputs are checked for the numbers the charts
carry, and no server may be left running afterwards.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[2] / "examples" / "notebook.ipynb"


def server_pids(data_dir: Path) -> list[int]:
    """Processes of a reference server whose data lives in `data_dir`."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"ueba_server" in command and str(data_dir).encode() in command:
            pids.append(int(entry.name))
    return pids


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    folder = tmp_path / "server"
    monkeypatch.setenv("UEBA_EXAMPLE_DATA_DIR", str(folder))
    yield folder
    for pid in server_pids(folder):  # only if the notebook failed before stopping its server
        os.kill(pid, signal.SIGKILL)


def outputs(cell) -> list[dict]:
    return [output for output in cell.get("outputs", []) if output["output_type"] != "stream"]


def text_of(cell) -> str:
    streams = [output for output in cell.get("outputs", []) if output["output_type"] == "stream"]
    return "".join(output["text"] for output in streams)


def chart_spec(cell) -> dict:
    """The Vega-Lite spec inside an altair chart's HTML output."""
    (html,) = [output["data"]["text/html"] for output in outputs(cell) if "text/html" in output["data"]]
    arguments = html.rsplit("})(", 1)[1]
    return json.loads(arguments.rsplit(', {"mode": "vega-lite"});', 1)[0])


def layer_data(spec: dict) -> list[list[dict]]:
    """Each layer's records: its own data, else the chart's."""
    return [spec["datasets"][layer.get("data", spec.get("data"))["name"]] for layer in spec["layer"]]


def cell_with(notebook, code: str):
    (cell,) = [cell for cell in notebook.cells if cell.cell_type == "code" and code in cell.source]
    return cell


@pytest.mark.timeout(300)
def test_the_example_notebook_runs_as_it_stands(data_dir: Path) -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(notebook, timeout=240, kernel_name="python3",
                   resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()

    assert (data_dir / "server.log").exists(), "the notebook did not use UEBA_EXAMPLE_DATA_DIR"
    assert server_pids(data_dir) == [], "the notebook left its server running"

    outcome = text_of(cell_with(notebook, "wait_for_training(dataset_id)"))
    # Each dataset trains in turn: its "training on N connections" line, then its outcome.
    assert [line for line in outcome.splitlines() if "training on" not in line][-3:] == [
        "Whole history: SUCCESS",
        "Last 90 days without the incident week: SUCCESS",
        "Three days: FAILURE",
    ]
    failure = outputs(cell_with(notebook, 'history["status"] == "FAILURE"'))[0]["data"]["text/plain"]
    assert "NOT_ENOUGH_CONNECTIONS" in failure

    # Loss curves: two successful runs, 8 epochs, both splits.
    (losses,) = layer_data(chart_spec(cell_with(notebook, "charts.loss_curves")))[:1]
    assert {(row["run"], row["split"]) for row in losses} == {
        (run, split) for run in ("Whole history #1", "Last 90 days without th… #1")
        for split in ("training", "validation")
    }
    assert sorted({row["epoch"] for row in losses}) == list(range(1, 9))

    # The histogram was fetched with bin_count=80 and has a rule at the chosen threshold.
    histogram_cell = cell_with(notebook, "charts.validation_histogram")
    bars, rules = layer_data(chart_spec(histogram_cell))
    assert len(bars) == 80
    markers = {rule["marker"]: rule["loss"] for rule in rules}
    assert set(markers) == {"mean", "mean + 3·std", "q99", "q999", "threshold"}
    printed = text_of(histogram_cell).splitlines()
    std = (markers["mean + 3·std"] - markers["mean"]) / 3
    assert printed[0] == (f"mean {markers['mean']:.5g}, std {std:.5g}, "
                          f"q99 {markers['q99']:.5g}, q999 {markers['q999']:.5g}")
    assert printed[1] == f"threshold {markers['threshold']:.5g}: 0.50% of validation connections above it"

    # The overlay marks the same run's q99 as the histogram did.
    _bins, quantiles = layer_data(chart_spec(cell_with(notebook, "charts.histogram_overlay")))
    assert {row["run"]: row["quantile_99"] for row in quantiles}["Whole history #1"] == markers["q99"]

    log = text_of(cell_with(notebook, "logs=True"))
    assert "epoch 8/8" in log
