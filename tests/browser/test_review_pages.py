"""The Training review and Compare pages (and the Dataset editor's timeline) in a real Chromium: no Vega
warnings in the console, a loss axis that fits the data, and nothing an analyst reads first cut off at
1280 and 1920 px.

The app runs as `streamlit run app.py` with a secrets file naming the session's reference server, on which
one dataset is trained twice through the API (no embedded server, no demo training to wait for).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect

from tests.app.conftest import privx_secrets, status_detail, train_and_wait
from tests.browser.conftest import PROJECT_ROOT, RunningApp, free_port, start_streamlit, wait_until_healthy
from ueba_api.models import Dataset, TimeRange
from ueba_server.launch import RunningServer, start_server

pytestmark = pytest.mark.browser

RUN_TIMEOUT = 60_000
CONNECTIONS = 12_000
# Many short epochs: a run lasts about 4 s on a quiet machine (1.5 s at 40 epochs since a standby worker
# reads the connections ahead), long enough to watch its progress panel.
EPOCHS = 150
SEED = 5
WIDTHS = (1280, 1920)
# What Vega and Vega-Lite print when a spec is wrong ("WARN Conflicting scale property ...").
VEGA_WARNING = re.compile(r"WARN|Conflicting scale|Infinite extent|vega", re.IGNORECASE)


@pytest.fixture(scope="module")
def review_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A server whose trainings last long enough (many short epochs) to watch one in the browser."""
    with start_server(tmp_path_factory.mktemp("review-server"), connections=CONNECTIONS, seed=SEED,
                      epochs=EPOCHS) as server:
        yield server


@pytest.fixture(scope="module")
def trained_dataset(review_server: RunningServer) -> Iterator[Dataset]:
    with review_server.client() as api:
        start, end = (datetime.fromisoformat(status_detail(api, key))
                      for key in ("connections_first", "connections_last"))
        dataset_id = api.create_dataset(Dataset(
            time_range_settings=TimeRange(start=start, end=end),
            comment="Browser review: a month of connections with a long first line that names it"))
        train_and_wait(api, dataset_id)
        # And a run that failed (too few connections), for the Compare page to pick.
        failing = api.create_dataset(Dataset(
            time_range_settings=TimeRange(start=end - timedelta(hours=6), end=end), comment="Too small"))
        api.train_dataset(failing)
        yield train_and_wait(api, dataset_id)
        api.delete_dataset(dataset_id)
        api.delete_dataset(failing)


@pytest.fixture(scope="module")
def review_app(tmp_path_factory: pytest.TempPathFactory, review_server: RunningServer,
               trained_dataset: Dataset) -> Iterator[RunningApp]:
    home = tmp_path_factory.mktemp("review-app")
    secrets, log = home / "secrets.toml", home / "streamlit.log"
    section = privx_secrets(review_server)
    secrets.write_text("[privx]\n" + "".join(f'{name} = "{value}"\n' for name, value in section.items()))
    port = free_port()
    environment = {name: value for name, value in os.environ.items() if not name.startswith("PRIVX_API_")}
    environment["UEBA_NOTEBOOK_DATA_DIR"] = str(home / "unused-embedded-server")
    process = start_streamlit(port, environment, secrets, log)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_healthy(url, process, log)
        yield RunningApp(url, home, log)
    finally:
        process.terminate()
        process.wait(30)


def new_page(browser: Browser, width: int, messages: list[str]) -> Page:
    context = browser.new_context(viewport={"width": width, "height": 1000})
    page = context.new_page()
    page.on("console", lambda message: messages.append(describe(message)))
    return page


def describe(message: ConsoleMessage) -> str:
    return f"{message.type}: {message.text}"


def settled(page: Page) -> None:
    expect(page.get_by_test_id("stApp")).to_have_attribute("data-test-script-state", "notRunning",
                                                          timeout=RUN_TIMEOUT)


def charts_drawn(page: Page, count: int) -> None:
    charts = page.get_by_test_id("stVegaLiteChart")
    expect(charts).to_have_count(count, timeout=RUN_TIMEOUT)
    for index in range(count):
        expect(charts.nth(index).locator("canvas, svg").first).to_be_visible(timeout=RUN_TIMEOUT)
    page.wait_for_timeout(1000)  # Vega logs its warnings while it lays the charts out


def open_training(page: Page, app: RunningApp, dataset: Dataset) -> None:
    page.goto(f"{app.url}/training?dataset={dataset.id}", timeout=RUN_TIMEOUT)
    expect(page.get_by_role("combobox", name="Run to review")).to_be_visible(timeout=RUN_TIMEOUT)
    settled(page)
    charts_drawn(page, 2)


def overlay_first_run(page: Page) -> None:
    """Picks run #1 in "Overlay other runs" (a rerun while the list opens may close it: open it again)."""
    settled(page)
    option = page.get_by_role("option", name=re.compile("#1"))
    for _ in range(3):
        page.get_by_role("combobox", name="Overlay other runs").click()
        try:
            expect(option).to_be_visible(timeout=5_000)
            break
        except AssertionError:
            settled(page)
    option.click()
    page.keyboard.press("Escape")
    settled(page)


def pick_run(page: Page, side: str, name: str) -> None:
    page.get_by_role("combobox", name=f"Run {side}").click()
    page.get_by_role("option", name=re.compile(name)).first.click()
    settled(page)


def vega_warnings(messages: list[str]) -> list[str]:
    return [message for message in messages if VEGA_WARNING.search(message)]


def test_no_vega_warning_on_the_training_and_compare_pages(
    review_app: RunningApp, browser: Browser, trained_dataset: Dataset, review_server: RunningServer
) -> None:
    messages: list[str] = []
    page = new_page(browser, 1400, messages)
    # First while a third run trains: the progress panel redraws its chart at every poll.
    with review_server.client() as api:
        api.train_dataset(trained_dataset.id)
        page.goto(f"{review_app.url}/training?dataset={trained_dataset.id}", timeout=RUN_TIMEOUT)
        expect(page.get_by_text(re.compile(r"epochs done"))).to_be_visible(timeout=RUN_TIMEOUT)
        expect(page.get_by_text(re.compile(r"Training .* #3 succeeded after"))).to_be_visible(
            timeout=RUN_TIMEOUT)
    open_training(page, review_app, trained_dataset)
    # Every chart setting the page has: log scales, smoothing, the other run overlaid.
    page.get_by_text("Log scale", exact=True).click()
    settled(page)
    page.get_by_text("Log-scale counts", exact=True).click()
    settled(page)
    overlay_first_run(page)
    charts_drawn(page, 2)
    page.get_by_role("link", name="Compare runs").click()
    settled(page)
    expect(page.get_by_role("combobox", name="Run A")).to_be_visible(timeout=RUN_TIMEOUT)
    charts_drawn(page, 2)
    page.get_by_text("Log scale", exact=True).click()
    settled(page)
    charts_drawn(page, 2)
    # A failed run (no losses, no histogram) against a good one.
    pick_run(page, "A", "Too small")
    charts_drawn(page, 2)
    assert vega_warnings(messages) == [], "\n".join(messages)
    # Run #3 ended while the page watched it and was put under review: without Streamlit's warning (with
    # a stack trace) about a widget given a default and a value through the Session State API.
    assert "Session State API" not in review_app.log.read_text()


def test_no_vega_warning_on_the_coverage_timeline_or_a_compare_without_histograms(
    review_app: RunningApp, browser: Browser, trained_dataset: Dataset
) -> None:
    """The states that logged Vega warnings: the editor's coverage timeline (its span said as DateTime
    objects: "Conflicting scale property domain" twice and "Infinite extent for field data" once a
    render) and charts with an empty layer (a failed run compared with itself: no bins, no q99)."""
    messages: list[str] = []
    page = new_page(browser, 1400, messages)
    page.goto(f"{review_app.url}/dataset_editor?dataset={trained_dataset.id}", timeout=RUN_TIMEOUT)
    expect(page.get_by_text("Connections per day", exact=True)).to_be_visible(timeout=RUN_TIMEOUT)
    settled(page)
    charts_drawn(page, 1)
    page.get_by_role("link", name="Compare runs").click()
    settled(page)
    pick_run(page, "A", "Too small")
    pick_run(page, "B", "Too small")
    expect(page.get_by_text("Neither run has losses to draw.")).to_be_visible(timeout=RUN_TIMEOUT)
    charts_drawn(page, 1)
    assert vega_warnings(messages) == [], "\n".join(messages)


def y_tick_labels(page: Page) -> list[str]:
    """The y-axis labels of the page's loss chart, as the browser drew them (SVG text)."""
    chart = page.get_by_test_id("stVegaLiteChart").first
    axis = chart.locator('g.role-axis[aria-label^="Y-axis"] g.role-axis-label text')
    expect(axis.first).to_be_visible(timeout=RUN_TIMEOUT)
    return axis.all_text_contents()


def test_the_log_loss_axis_fits_the_data(review_app: RunningApp, browser: Browser, trained_dataset: Dataset,
                                         review_server: RunningServer) -> None:
    page = new_page(browser, 1400, [])
    open_training(page, review_app, trained_dataset)
    page.get_by_text("Log scale", exact=True).click()
    settled(page)
    charts_drawn(page, 2)
    with review_server.client() as api:
        result = api.get_dataset(trained_dataset.id).latest_result  # the run under review
    losses = result.training_dataset_loss + result.validation_dataset_loss
    ticks = [float(label) for label in y_tick_labels(page)]
    assert len(ticks) >= 2, ticks
    # Every tick inside the data's range (a little padding aside): no decade the data never reaches.
    assert min(losses) / 1.2 <= min(ticks), (ticks, min(losses))
    assert max(ticks) <= max(losses) * 1.2, (ticks, max(losses))


def cut_off(page: Page, selector: str) -> list[str]:
    """Texts of the elements matched by `selector` that do not fit their box, or lie outside the window.
    An input's text is measured with its own font (an input does not report its overflow)."""
    return page.eval_on_selector_all(selector, """(elements) => elements.filter((element) => {
        const box = element.getBoundingClientRect();
        const outside = box.right > window.innerWidth + 1 || box.left < -1;
        if (element.tagName === "INPUT") {
            const style = getComputedStyle(element);
            const context = document.createElement("canvas").getContext("2d");
            context.font = style.font;
            const room = element.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
            return outside || context.measureText(element.value).width > room + 1;
        }
        return outside || element.scrollWidth > element.clientWidth + 1;
    }).map((element) => element.value || element.textContent)""")


PICKERS = 'input[role="combobox"][aria-label^="Run"]'


@pytest.mark.parametrize("width", WIDTHS)
def test_nothing_an_analyst_reads_first_is_cut_off(review_app: RunningApp, browser: Browser,
                                                   trained_dataset: Dataset, width: int) -> None:
    page = new_page(browser, width, [])
    open_training(page, review_app, trained_dataset)
    # The history table (drawn on a canvas) has q99 and q999 among its first five columns, whose widths
    # (small, medium, small, small, small: 500 px) the table shows whole without a sideways scroll.
    table = page.get_by_test_id("stDataFrame").first
    headers = table.locator('th[role="columnheader"]').all_text_contents()
    assert headers[3:5] == ["q99", "q999"], headers
    assert table.bounding_box()["width"] >= 500
    # Run labels in the picker and in the overlay chips, whole.
    overlay_first_run(page)
    assert cut_off(page, PICKERS) == []
    chips = '[data-testid="stMultiSelect"] [role="group"] [role="row"] *, [data-testid="stMultiSelect"] span'
    assert cut_off(page, chips) == []
    # The training log's first line, whole.
    page.get_by_text("Training log", exact=True).click()
    code = page.get_by_test_id("stCode")
    expect(code).to_contain_text("connections:", timeout=RUN_TIMEOUT)
    assert cut_off(page, '[data-testid="stCode"] pre, [data-testid="stCode"] code') == []
    # The compare page's run pickers, whole.
    page.get_by_role("link", name="Compare runs").click()
    settled(page)
    expect(page.get_by_role("combobox", name="Run A")).to_be_visible(timeout=RUN_TIMEOUT)
    assert cut_off(page, PICKERS) == []
    Path(PROJECT_ROOT / "artifacts").mkdir(exist_ok=True)
    page.screenshot(path=PROJECT_ROOT / "artifacts" / f"compare-{width}.png")
