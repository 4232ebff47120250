"""The training review page over real HTTP: train, poll to the end, and check every number against the API."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import timedelta

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from tests.app.conftest import TRAINING_TIMEOUT, history_month, texts, train_and_wait, unescaped, vega_specs
from ueba_api import quality, review
from ueba_api.client import UebaClient
from ueba_api.models import Dataset, TrainingResult, TrainingStatus

TRAINING_PAGE = "pages/training.py"
POLL_SECONDS = 0.5


def open_training(app: AppTest, dataset_id: str | None = None) -> AppTest:
    app.run()  # the first run registers the pages of st.navigation
    if dataset_id:
        app.query_params["dataset"] = dataset_id
    app.switch_page(TRAINING_PAGE).run()
    assert not app.exception, app.exception
    return app


def start_training(app: AppTest, dataset_id: str, activate: bool = False) -> AppTest:
    if activate:
        app.toggle(key=f"training.activate.{dataset_id}").set_value(True).run()
    app.button(key=f"training.train.{dataset_id}").click().run()
    assert "Start training" in [button.label for button in app.button]
    return app.button(key=f"training.train.{dataset_id}:confirm").click().run()


def poll_until_done(app: AppTest, api: UebaClient, dataset_id: str) -> str:
    """Runs the page again (AppTest never fires run_every) until it announces the end of the training."""
    deadline = time.monotonic() + TRAINING_TIMEOUT
    while time.monotonic() < deadline:
        ended = [toast.value for toast in app.toast if not toast.value.startswith("Training started")]
        if ended:
            return " ".join(ended)
        time.sleep(POLL_SECONDS)
        app.run()
        assert not app.exception, app.exception
    latest = api.get_dataset(dataset_id).latest_result
    raise AssertionError(f"no end of training announced; the API says {latest}")


def history_table(app: AppTest) -> pd.DataFrame:
    """The history table as the page gave it to st.dataframe (the page's only table)."""
    [table] = app.dataframe
    return table.value


def spec_with(app: AppTest, field: str) -> dict:
    """The one chart whose first layer encodes `field` on its x axis."""
    found = []
    for spec in vega_specs(app):
        layer = spec.get("layer", [spec])[0]
        if layer["encoding"]["x"]["field"] == field:
            found.append(spec)
    assert len(found) == 1, f"{len(found)} charts with x = {field}"
    return found[0]


def layer_records(spec: dict, index: int = 0) -> list[dict]:
    layer = spec.get("layer", [spec])[index]
    return spec["datasets"][layer.get("data", spec.get("data"))["name"]]


def loss_records(result: TrainingResult) -> list[tuple[int, str, float]]:
    return sorted(
        [(epoch, "training", loss) for epoch, loss in enumerate(result.training_dataset_loss, 1)]
        + [(epoch, "validation", loss) for epoch, loss in enumerate(result.validation_dataset_loss, 1)]
    )


def test_train_poll_to_success_and_review_equals_the_api(
    app: AppTest, api: UebaClient, new_dataset: Callable[..., Dataset]
) -> None:
    dataset = new_dataset()
    open_training(app, dataset.id)
    assert any("has not been trained yet" in caption.value for caption in app.caption)

    start_training(app, dataset.id, activate=True)
    assert not app.exception, app.exception
    # Right after the start the progress panel is there, and Train waits for the run to end.
    [panel] = app.status
    assert "epochs done" in panel.label
    assert app.button(key=f"training.train.{dataset.id}").disabled

    announced = poll_until_done(app, api, dataset.id)
    assert not app.status, "the progress panel must go once the run ended"
    trained = api.get_dataset(dataset.id, logs=True)
    [result] = trained.training_results
    assert result.status == TrainingStatus.SUCCESS
    assert f"succeeded after {len(result.validation_dataset_loss)} epochs" in announced
    assert trained.is_active, "set_active_after_training was asked for"

    # History: one row, every value as the API gave it.
    [row] = history_table(app).to_dict("records")
    assert row["created (UTC)"] == pd.Timestamp(result.created)
    assert (row["status"], row["feature_config_name"]) == ("SUCCESS", result.feature_config_name)
    assert row["num_connections"] == result.num_connections
    assert row["epochs"] == len(result.training_dataset_loss)
    assert row["final_training_loss"] == result.training_dataset_loss[-1]
    assert row["final_validation_loss"] == result.validation_dataset_loss[-1]
    assert [row[name] for name in ("mean", "std", "quantile_99", "quantile_999")] == [
        result.mean, result.std, result.quantile_99, result.quantile_999]
    assert {button.proto.label for button in app.get("download_button")} >= {"Download CSV", "Download JSON"}
    assert app.dataframe[0].proto.placeholder == "—", "missing values (no error here) read as a dash"

    # The run's statistics, labelled alike, to five significant digits.
    assert [metric.label for metric in app.metric] == [
        "Validation loss mean", "Validation loss std", "Validation loss q99", "Validation loss q999"]
    assert [float(metric.value) for metric in app.metric] == pytest.approx(
        [result.mean, result.std, result.quantile_99, result.quantile_999], rel=5e-5)

    # Loss curves: the API's losses per epoch and split.
    losses = spec_with(app, "epoch")
    drawn = layer_records(losses)
    assert sorted((row["epoch"], row["split"], row["loss"]) for row in drawn) == loss_records(result)
    assert {row["run"] for row in drawn} == {"#1"}, "runs of the page's dataset go by number"

    # Histogram: bars from hist and bin_edges, rules at the API's statistics.
    histogram = spec_with(app, "bin_start")
    bars = layer_records(histogram, 0)
    edges = result.validation_dataset_histogram.bin_edges
    assert [bar["count"] for bar in bars] == result.validation_dataset_histogram.hist
    assert [bar["bin_start"] for bar in bars] == edges[:-1]
    assert [bar["bin_end"] for bar in bars] == edges[1:]
    markers = {rule["marker"]: rule["loss"] for rule in layer_records(histogram, 1)}
    assert markers["mean"] == result.mean
    assert markers["mean + 3·std"] == pytest.approx(result.mean + 3 * result.std)
    assert (markers["q99"], markers["q999"]) == (result.quantile_99, result.quantile_999)
    # The threshold explorer starts at q99 and reads the share above it from the finest histogram.
    assert markers["threshold"] == result.quantile_99
    finest = api.get_dataset(dataset.id, bin_count=1000).latest_result.validation_dataset_histogram
    reading = review.reading_at_threshold(finest, result.quantile_99)
    assert reading.bins == 1000
    assert reading.sentence() in [text.value for text in app.markdown]

    # The training log, fetched when its expander is opened.
    assert app.code == [], "the log is not fetched while its expander is closed"
    app.session_state[f"training.log.{dataset.id}.1"] = True
    app.run()
    [log] = [code.value for code in app.code]
    assert log == result.training_log.rstrip("\n") and "epoch 5/5" in log

    # Bin count: fetched again from the server with bin_count.
    app.number_input(key="training.bins").set_value(20).run()
    rebinned = api.get_dataset(dataset.id, bin_count=20).latest_result.validation_dataset_histogram
    bars = layer_records(spec_with(app, "bin_start"), 0)
    assert len(bars) == 20
    assert [bar["count"] for bar in bars] == rebinned.hist
    # The explorer's answer is the same whatever the chart's bins: it reads the finest histogram.
    assert reading.sentence() in [text.value for text in app.markdown]

    # Log-scale counts, and a threshold picked by share: 5% of the validation connections above it.
    app.toggle(key="training.histogram_log").set_value(True).run()
    [mode] = app.segmented_control
    assert mode.value == "Loss threshold"
    mode.set_value("Share above").run()
    app.number_input(key=mode.key.removesuffix(".mode") + ".share").set_value(5.0).run()
    spec = spec_with(app, "bin_start")
    assert spec["layer"][0]["encoding"]["y"]["scale"]["type"] == "symlog"
    threshold = quality.threshold_for_share(finest, 0.05)
    markers = {rule["marker"]: rule["loss"] for rule in layer_records(spec, 1)}
    assert markers["threshold"] == pytest.approx(threshold)
    assert review.reading_at_share(finest, 0.05).sentence() in [text.value for text in app.markdown]

    # Smoothing draws the debiased EMA over the faint raw curves; log scale on the loss axis.
    app.slider(key="training.smoothing").set_value(0.6).run()
    app.toggle(key="training.loss_log").set_value(True).run()
    losses = spec_with(app, "epoch")
    # Raw curves, smoothed curves, then the smoothed values' points.
    assert [layer["encoding"]["y"]["field"] for layer in losses["layer"]] == [
        "loss", "smoothed_loss", "smoothed_loss"]
    assert losses["layer"][0]["encoding"]["y"]["scale"]["type"] == "log"


def test_a_training_started_elsewhere_is_refused_then_followed(
    app: AppTest, api: UebaClient, new_dataset: Callable[..., Dataset]
) -> None:
    dataset = new_dataset()
    open_training(app, dataset.id)
    app.button(key=f"training.train.{dataset.id}").click().run()
    api.train_dataset(dataset.id)  # someone else starts a training while the dialog is open
    app.button(key=f"training.train.{dataset.id}:confirm").click().run()

    assert not app.exception, app.exception
    assert [unescaped(error.value) for error in app.error] == [
        "A training is already running for this dataset: wait for it to end, then train again."]
    assert "Start training" in [button.label for button in app.button], "the dialog stays open"
    app.button(key=f"training.train.{dataset.id}:cancel").click().run()
    assert "Start training" not in [button.label for button in app.button]

    assert "epochs done" in app.status[0].label
    poll_until_done(app, api, dataset.id)
    assert len(api.get_dataset(dataset.id).training_results) == 1, "only the one training ran"


def test_dataset_picker_and_a_failed_training_shows_its_error(
    app: AppTest, api: UebaClient, new_dataset: Callable[..., Dataset]
) -> None:
    _, end = history_month(api)
    start = end - timedelta(days=2)
    dataset = new_dataset(start=start, end=end)
    assert api.count_connections(dataset.time_range_settings) < 5000

    open_training(app, "no-such-dataset")
    assert "There is no dataset with the id 'no-such-dataset'. Pick one below." in [
        unescaped(error.value) for error in app.error]
    [picker] = [box for box in app.selectbox if box.label == "Dataset"]
    picker.set_value(dataset.id).run()
    assert app.query_params["dataset"] == dataset.id
    assert not app.exception, app.exception

    start_training(app, dataset.id)
    # Too few connections fail at once: often the run right after the start already announces it.
    announced = poll_until_done(app, api, dataset.id)
    [result] = api.get_dataset(dataset.id).training_results
    assert result.status == TrainingStatus.FAILURE
    assert result.error_code and result.error_details
    cause = f"{result.error_code}: {result.error_details}"
    assert f"failed ({cause})." in announced

    assert history_table(app)[["status", "error_code", "error_details"]].values.tolist() == [
        ["FAILURE", result.error_code, result.error_details]]
    # The failure is said once: by the run under review (it is the latest), not again above the history.
    shown = [unescaped(error.value) for error in app.error]
    assert [error for error in shown if result.error_details in error] == [f"The training failed ({cause})."]
    assert "The latest training failed." not in " ".join(texts(app))


@pytest.mark.usefixtures("no_active_dataset")
def test_without_a_dataset_in_the_url_the_page_opens_the_last_trained_one(
    app: AppTest, api: UebaClient, new_dataset: Callable[..., Dataset]
) -> None:
    trained = new_dataset()
    new_dataset()  # created later, never trained
    train_and_wait(api, trained.id)

    open_training(app)
    [picker] = [box for box in app.selectbox if box.label == "Dataset"]
    assert picker.value == trained.id
    assert app.query_params["dataset"] == trained.id, "the choice goes into the URL, so a reload keeps it"
    # The page shows that dataset, not an empty picker waiting for a choice.
    assert [row["status"] for row in history_table(app).to_dict("records")] == ["SUCCESS"]


def test_an_unreachable_server_is_said_in_words(make_app: Callable[..., AppTest]) -> None:
    app = open_training(make_app(base_url="http://127.0.0.1:9", max_retries=0))
    [error] = app.error
    assert unescaped(error.value).startswith("Cannot reach the server, so could not load the datasets.")
    assert "Retry" in [button.label for button in app.button]


def test_an_unknown_dataset_id_from_the_url_is_shown_as_text(
    app: AppTest, new_dataset: Callable[..., Dataset]
) -> None:
    # A link to the app is anyone's to write: the id it carries comes back in the error as typed, inert.
    new_dataset()  # a dataset to pick instead
    hostile = "**bold** ![t](http://127.0.0.1:9/t.png) :red[red]"
    open_training(app, hostile)
    [error] = [error for error in app.error if "no dataset with the id" in unescaped(error.value)]
    assert unescaped(error.value) == f"There is no dataset with the id {hostile!r}. Pick one below."
    assert re.search(r"(?<!\\)[*!\[\]():]", error.value.replace("\u200b", "")) is None, error.value
