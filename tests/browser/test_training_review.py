"""Training review in a real Chromium: train through the UI, watch the run end, see the charts drawn.

The app runs as a user starts it (`streamlit run app.py`, embedded server with its demo dataset). The
screenshots go to artifacts/ (docs/screenshots/ keeps a representative copy of each).
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import ARTIFACTS, RunningApp

pytestmark = pytest.mark.browser

# The first start of the embedded server generates its history and trains the demo dataset.
FIRST_START_TIMEOUT = 120_000
TRAINING_TIMEOUT = 90_000
TALL = {"width": 1400, "height": 2300}


def settled(page: Page) -> None:
    """Wait until no script run is going on: a click during a rerun that redraws its widget can be lost."""
    expect(page.get_by_test_id("stApp")).to_have_attribute("data-test-script-state", "notRunning",
                                                          timeout=TRAINING_TIMEOUT)


def no_exceptions(page: Page) -> None:
    expect(page.get_by_test_id("stException")).to_have_count(0)


def charts_drawn(page: Page, count: int) -> None:
    """`count` vega-embed charts with their canvas (or svg) drawn, and a legend or axis in each."""
    charts = page.get_by_test_id("stVegaLiteChart")
    expect(charts).to_have_count(count, timeout=30_000)
    for index in range(count):
        expect(charts.nth(index).locator("canvas, svg").first).to_be_visible(timeout=30_000)


def test_train_through_the_ui_and_review_the_run(streamlit_app: RunningApp, page: Page) -> None:
    page.goto(f"{streamlit_app.url}/training", timeout=FIRST_START_TIMEOUT)
    picker = page.get_by_test_id("stSelectbox").filter(has_text="Dataset")
    expect(picker).to_be_visible(timeout=FIRST_START_TIMEOUT)
    picker.click()
    page.get_by_role("option").filter(has_text="Demo").first.click()
    expect(page).to_have_url(re.compile(r"/training\?dataset=[0-9a-f-]{36}$"))

    # The demo dataset may still be training from the first start: Train waits for it.
    train = page.get_by_role("button", name="Train", exact=True)
    expect(train).to_be_enabled(timeout=TRAINING_TIMEOUT)
    expect(page.get_by_text("epochs done")).to_have_count(0)
    run_picker = page.get_by_role("combobox", name="Run to review")
    expect(run_picker).to_have_value(re.compile(r"^#1 · SUCCESS · "))
    settled(page)

    train.click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Train this dataset?")
    expect(dialog).to_contain_text("The active model does not change.")
    settled(page)
    dialog.get_by_role("button", name="Start training").click()
    expect(dialog).to_have_count(0)
    # The toast of the start, then the one of the end, which the polling fragment brings.
    expect(page.get_by_text(re.compile(r"Training started on [\d,]+ connections"))).to_be_visible()
    expect(page.get_by_text(re.compile(r"Training .* #2 succeeded after \d+ epochs"))).to_be_visible(
        timeout=TRAINING_TIMEOUT)
    expect(page.get_by_role("button", name="Train", exact=True)).to_be_enabled()
    no_exceptions(page)

    # The finished run is the one under review, with its statistics, hints, loss curves and histogram.
    expect(run_picker).to_have_value(re.compile(r"^#2 · SUCCESS · "))
    expect(page.get_by_test_id("stMetric").filter(has_text="q999")).to_be_visible()
    settled(page)
    expect(page.get_by_text(re.compile(r"of the validation connections have a loss above"))).to_be_visible()
    charts_drawn(page, 2)
    page.get_by_text("Training log").click()
    expect(page.get_by_test_id("stCode")).to_contain_text("epoch 1/")

    page.set_viewport_size(TALL)
    page.wait_for_timeout(1500)  # let the charts settle at the new width
    no_exceptions(page)
    # The page from its title (opening the log scrolled it), without the toasts over the picker.
    expect(page.get_by_test_id("stToast")).to_have_count(0, timeout=30_000)
    page.get_by_role("heading", name="Training review").scroll_into_view_if_needed()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "training-review.png")

    # Both runs of the demo dataset, compared.
    page.get_by_role("link", name="Compare runs").click()
    settled(page)
    expect(page.get_by_role("combobox", name="Run A")).to_have_value(re.compile(r" #1 · SUCCESS$"))
    expect(page.get_by_role("combobox", name="Run B")).to_have_value(re.compile(r" #2 · SUCCESS$"))
    expect(page.get_by_test_id("stDataFrame")).to_be_visible()
    charts_drawn(page, 2)
    page.wait_for_timeout(1500)
    no_exceptions(page)
    page.screenshot(path=ARTIFACTS / "compare.png")
