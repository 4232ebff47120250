"""The Training review page offers the model-quality report (ueba_api.report) beside the history downloads,
made only when clicked (the report's own tests check its content against the API)."""

from __future__ import annotations

from tests.app.conftest import train_and_wait
from tests.app.test_training_page import open_training

REPORT_LABEL = "Download the quality report"


def test_the_report_button_sits_with_the_history_downloads(app, api, new_dataset):
    dataset = new_dataset()
    train_and_wait(api, dataset.id)
    open_training(app, dataset.id)
    buttons = {button.proto.label: button.proto for button in app.get("download_button")}
    assert {"Download CSV", "Download JSON", REPORT_LABEL} <= set(buttons)
    report = buttons[REPORT_LABEL]
    assert report.deferred_file_id, "the report is made on click, not on every run of the page"
    assert report.ignore_rerun


def test_no_report_button_before_a_training(app, new_dataset):
    dataset = new_dataset()
    open_training(app, dataset.id)
    assert REPORT_LABEL not in {button.proto.label for button in app.get("download_button")}
