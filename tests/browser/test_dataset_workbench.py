"""A real browser on `streamlit run app.py`: create a dataset with one exclusion, save it, find it listed.

The browser runs in New York time on purpose: what the user types in the (UTC) editor must be saved as UTC.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Locator, Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from tests.browser.conftest import ARTIFACTS, RunningApp
from ueba_api.models import Period
from ueba_server.launch import RunningServer

pytestmark = pytest.mark.browser

SERVER_START_TIMEOUT = 90_000
RUN_TIMEOUT = 30_000
ADD_ROW_ATTEMPTS = 4
TRAINING_TIMEOUT = 90_000
ROW_HEIGHT = 35


def screenshot(page: Page, name: str) -> None:
    """The whole page, once toasts are gone (Streamlit scrolls inside the page: grow the window instead)."""
    expect(page.get_by_test_id("stToast")).to_have_count(0, timeout=RUN_TIMEOUT)
    page.mouse.move(0, 0)  # no hover toolbars
    viewport = page.viewport_size
    content = page.get_by_test_id("stMainBlockContainer").bounding_box()
    page.set_viewport_size({"width": viewport["width"], "height": max(viewport["height"],
                                                                      int(content["height"]) + 160)})
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / f"{name}.png")
    page.set_viewport_size(viewport)


def connections_for_training(page: Page) -> int:
    metric = page.get_by_test_id("stMetric").filter(has_text="Connections for training")
    return int(metric.get_by_test_id("stMetricValue").inner_text().replace(",", ""))


def picked(page: Page, label: str) -> datetime:
    """The value of an st.datetime_input, read from its year/month/day/hour/minute fields."""
    parts = {part: int(page.get_by_role("spinbutton", name=f"{part}, {label}").get_attribute("aria-valuenow"))
             for part in ("year", "month", "day", "hour", "minute")}
    return datetime(parts["year"], parts["month"], parts["day"], parts["hour"], parts["minute"], tzinfo=UTC)


def grid_cells(where: Page | Locator, text: str | re.Pattern[str]) -> Locator:
    """Cells of st.dataframe / st.data_editor (drawn on a canvas; the grid mirrors them for accessibility)."""
    return where.locator('[role="gridcell"]').filter(has_text=text)


def wait_for_app(page: Page) -> None:
    """Until the script run is over (Streamlit shows a running indicator meanwhile)."""
    expect(page.get_by_test_id("stStatusWidget")).to_have_count(0, timeout=RUN_TIMEOUT)


def add_editor_row(page: Page, table: Locator) -> None:
    """Clicks the data editor's "Add row", which sits in a toolbar shown while the pointer is over the
    table. Charts below may still be drawing and shift the layout, which moves the table from under the
    pointer and hides the toolbar again: hover and try again, a bounded number of times."""
    wait_for_app(page)
    add_row = page.get_by_role("button", name="Add row")
    for _ in range(ADD_ROW_ATTEMPTS):
        table.hover()
        try:
            add_row.click(timeout=5_000)
            return
        except PlaywrightTimeoutError:
            continue
    raise AssertionError(f"the data editor's Add row button could not be clicked in {ADD_ROW_ATTEMPTS} tries")


def type_into_cell(page: Page, table: Locator, row: int, column: int, text: str) -> None:
    """Opens the editor of a cell of an st.data_editor (a canvas) and types a value into it."""
    box = table.bounding_box()
    header = box["y"] + ROW_HEIGHT / 2
    column_width = (box["width"] - 30) / 2  # after the row-marker column, two equal columns
    page.mouse.dblclick(box["x"] + 30 + column_width * (column + 0.5), header + ROW_HEIGHT * (row + 1))
    cell_editor = page.locator("input.gdg-input, input[class^='gdg']").last
    expect(cell_editor).to_be_visible()
    cell_editor.fill(text)
    cell_editor.press("Enter")


def test_create_a_dataset_with_one_exclusion_and_see_it_listed(streamlit_app: RunningApp, page: Page) -> None:
    page.goto(streamlit_app.url)
    expect(page.get_by_role("heading", name="Datasets")).to_be_visible(timeout=SERVER_START_TIMEOUT)
    sidebar = page.get_by_test_id("stSidebar")
    expect(sidebar.get_by_text("Embedded reference server")).to_be_visible()
    expect(sidebar.get_by_text(re.compile("RUNNING")).first).to_be_visible(timeout=SERVER_START_TIMEOUT)
    expect(grid_cells(page, re.compile("^Demo")).first).to_be_attached(timeout=RUN_TIMEOUT)
    # The demo dataset trains from the first start on. The list follows it without a reload (it polls
    # while a dataset trains) and says when the training ended.
    expect(grid_cells(page, "TRAINING")).to_have_count(1)
    expect(grid_cells(page, "SUCCESS")).to_have_count(1, timeout=TRAINING_TIMEOUT)
    expect(page.get_by_text(re.compile(r"Training Demo.* #1 succeeded after \d+ epochs"))).to_be_visible()
    expect(grid_cells(page, "TRAINING")).to_have_count(0)

    page.get_by_role("button", name="New dataset").click()
    expect(page.get_by_role("heading", name="New dataset")).to_be_visible(timeout=RUN_TIMEOUT)
    page.get_by_role("button", name="Last 90 days").click()
    wait_for_app(page)
    # The 90 whole UTC days before today, as the demo dataset (today is still being recorded).
    range_end = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    assert picked(page, "Start (UTC)") == range_end - timedelta(days=90)
    assert picked(page, "End (UTC)") == range_end
    whole_range = connections_for_training(page)

    # Exclude two weeks, typed as UTC wall times in a browser that lives in New York.
    start = range_end - timedelta(days=60)
    excluded = Period(start=start, end=start + timedelta(days=14))
    table = page.get_by_test_id("stDataFrame").first
    add_editor_row(page, table)
    type_into_cell(page, table, 0, 0, f"{excluded.start:%Y-%m-%dT%H:%M}")
    type_into_cell(page, table, 0, 1, f"{excluded.end:%Y-%m-%dT%H:%M}")
    wait_for_app(page)
    expect(page.get_by_test_id("stMetric").filter(has_text="Connections for training")).not_to_contain_text(
        f"{whole_range:,}", timeout=RUN_TIMEOUT)
    assert connections_for_training(page) < whole_range
    expect(page.get_by_test_id("stAlertContentError")).to_have_count(0)

    comment = f"Browser dataset {datetime.now(UTC):%H%M%S}"
    page.get_by_label("Comment").fill(comment)
    page.get_by_label("Comment").press("Control+Enter")
    wait_for_app(page)
    page.get_by_role("button", name="Create dataset").click()
    expect(page).to_have_url(re.compile(r"[?&]dataset=[0-9a-f-]{36}"), timeout=RUN_TIMEOUT)
    expect(page.get_by_role("heading", name=comment)).to_be_visible(timeout=RUN_TIMEOUT)
    wait_for_app(page)
    screenshot(page, "dataset-editor")

    # The editor now shows the dataset as the server returns it: the period is still the UTC one typed.
    saved_period = page.get_by_test_id("stDataFrame").first
    expect(grid_cells(saved_period, f"{excluded.start:%Y-%m-%d %H:%M}")).to_have_count(1)
    expect(grid_cells(saved_period, f"{excluded.end:%Y-%m-%d %H:%M}")).to_have_count(1)

    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Datasets").click()
    expect(grid_cells(page, comment)).to_have_count(1, timeout=RUN_TIMEOUT)
    # Selecting its row (the demo dataset is the first) opens the dataset's panel and actions.
    wait_for_app(page)
    table = page.get_by_test_id("stDataFrame").first
    box = table.bounding_box()
    page.mouse.click(box["x"] + 15, box["y"] + ROW_HEIGHT * 2.5)
    expect(page.get_by_role("heading", name=comment)).to_be_visible(timeout=RUN_TIMEOUT)
    expect(page.get_by_role("button", name="Delete")).to_be_enabled()
    wait_for_app(page)
    screenshot(page, "datasets")


def test_connect_to_a_privx_then_back_to_the_embedded_server(
    streamlit_app: RunningApp, page: Page, reference_server: RunningServer
) -> None:
    page.goto(f"{streamlit_app.url}/connection")
    expect(page.get_by_role("heading", name="Connect to PrivX")).to_be_visible(timeout=SERVER_START_TIMEOUT)
    page.get_by_label("Base URL", exact=True).fill(reference_server.base_url)
    page.get_by_label("API client ID", exact=True).fill(reference_server.client_id)
    page.get_by_label("API client secret", exact=True).fill(reference_server.client_secret)
    page.get_by_label("OAuth client secret", exact=True).fill(reference_server.oauth_client_secret)
    page.get_by_role("button", name="Connect", exact=True).click()

    sidebar = page.get_by_test_id("stSidebar")
    expect(sidebar.get_by_text(f"PrivX at {reference_server.base_url}")).to_be_visible(timeout=RUN_TIMEOUT)
    expect(page.get_by_label("API client secret", exact=True)).to_have_value("")
    wait_for_app(page)
    html = page.content()
    assert reference_server.client_secret not in html
    assert reference_server.oauth_client_secret not in html

    page.get_by_role("button", name="Back to the embedded server").click()
    expect(sidebar.get_by_text("Embedded reference server")).to_be_visible(timeout=RUN_TIMEOUT)
    expect(page.get_by_text("Now using the embedded reference server.")).to_be_visible()
