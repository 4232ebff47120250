"""What only a browser shows: nothing leaves the machine, hostile comments stay text, wrong credentials are
refused, and a fresh process's first page lists only the app's pages.

Its own `streamlit run` (module-scoped fixture), so the first test sees a fresh process's very first load;
the hostile comments are shown by a second app, configured (secrets.toml) for the session's reference
server, where the test creates and trains the datasets that carry them.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, expect

from tests.app.conftest import history_month, train_and_wait
from tests.app.test_interactive_timeouts import ClosingServer
from tests.browser.conftest import ARTIFACTS, RunningApp, privx_secrets_toml, running_app
from ueba_api.client import UebaClient
from ueba_api.models import Dataset, TimeRange
from ueba_server.launch import RunningServer

pytestmark = pytest.mark.browser

FIRST_START_TIMEOUT = 120_000
RUN_TIMEOUT = 30_000
PAGES = {"Datasets": "", "Dataset editor": "dataset_editor", "Training review": "training",
         "Compare runs": "compare", "Connection": "connection"}
HOSTILE = "**bold** <img src=x onerror=alert(1)> ![t](http://127.0.0.1:9/t.png) $$x^2$$ :red[red]"
HEADING = "# Heading line\nsecond line"


def settled(page: Page) -> None:
    expect(page.get_by_test_id("stApp")).to_have_attribute("data-test-script-state", "notRunning",
                                                          timeout=FIRST_START_TIMEOUT)


def foreign(requests: list[str], app_url: str) -> list[str]:
    """Requests to any other host or port than the app's."""
    app = urlsplit(app_url).netloc
    return [url for url in requests if urlsplit(url).scheme in ("http", "https", "ws", "wss")
            and urlsplit(url).netloc != app]


@pytest.fixture
def requests(page: Page) -> list[str]:
    seen: list[str] = []
    page.on("request", lambda request: seen.append(request.url))
    page.on("websocket", lambda socket: seen.append(socket.url))
    return seen


def test_a_fresh_process_lists_only_its_pages(streamlit_app: RunningApp, page: Page) -> None:
    page.goto(streamlit_app.url)
    # Every link the sidebar shows while the first run starts the embedded server and draws the page.
    listed: set[str] = set()
    deadline = time.monotonic() + FIRST_START_TIMEOUT / 1000
    heading = page.get_by_role("heading", name="Datasets", exact=True)
    links = page.locator("[data-testid=stSidebarNav] a")
    while not heading.is_visible():
        assert time.monotonic() < deadline, "the Datasets page did not appear"
        listed |= set(links.all_inner_texts())
        page.wait_for_timeout(50)
    expect(links).to_have_count(len(PAGES))
    listed |= set(links.all_inner_texts())
    # A link's text is its icon's ligature name, then its label.
    assert {text.strip().splitlines()[-1] for text in listed} == set(PAGES), "file names listed as pages"


def test_no_request_leaves_the_machine(streamlit_app: RunningApp, page: Page, requests: list[str]) -> None:
    """Every page, with its icons (the page icon is a local file; the others come from Streamlit's own
    bundled font): no request to another host or port than the app's."""
    for path in PAGES.values():
        page.goto(f"{streamlit_app.url}/{path}")
        settled(page)
        expect(page.get_by_test_id("stException")).to_have_count(0)
    page.wait_for_timeout(1000)  # icons, fonts and images requested late
    assert requests, "the recorder saw the app's own requests"
    assert foreign(requests, streamlit_app.url) == []
    icons = [url for url in requests if "/media/" in url or url.endswith(".png")]
    assert icons, "the page icon is served by the app itself"


def test_wrong_credentials_are_refused_with_the_servers_sentence(
    streamlit_app: RunningApp, page: Page, reference_server: RunningServer
) -> None:
    page.goto(f"{streamlit_app.url}/connection")
    expect(page.get_by_role("heading", name="Connect to PrivX")).to_be_visible(timeout=FIRST_START_TIMEOUT)
    settled(page)
    page.get_by_label("Base URL", exact=True).fill(reference_server.base_url)
    page.get_by_text("Bearer token", exact=True).click()
    settled(page)
    page.locator("input[type=password][aria-label='Bearer token']").fill("not-a-valid-token")
    page.get_by_role("button", name="Test connection").click()
    expect(page.get_by_text("The server answers, but refuses these credentials: Error: The bearer token is "
                            "invalid or has expired")).to_be_visible(timeout=RUN_TIMEOUT)
    settled(page)
    page.get_by_role("button", name="Connect", exact=True).click()
    refused = "Not connected. Error: The bearer token is invalid or has expired"
    expect(page.get_by_text(refused)).to_be_visible(timeout=RUN_TIMEOUT)
    sidebar = page.get_by_test_id("stSidebar")
    expect(sidebar.get_by_text("Embedded reference server")).to_be_visible()
    expect(sidebar.get_by_text("signed in · view and manage")).to_be_visible()
    settled(page)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "connection-refused.png", full_page=True)


@pytest.fixture(scope="module")
def privx_app(
    tmp_path_factory: pytest.TempPathFactory, reference_server: RunningServer
) -> Iterator[RunningApp]:
    with running_app(tmp_path_factory.mktemp("privx-app"), privx_secrets_toml(reference_server)) as app:
        yield app


@pytest.fixture
def hostile_datasets(api: UebaClient) -> Iterator[dict[str, str]]:
    """Two trained datasets on the session server, with the hostile comments; deleted afterwards."""
    made = {}
    start, end = history_month(api)
    span = TimeRange(start=start, end=end)
    for name, comment in (("hostile", HOSTILE), ("heading", HEADING)):
        made[name] = api.create_dataset(Dataset(time_range_settings=span, comment=comment))
        train_and_wait(api, made[name])
    yield made
    for dataset in api.list_datasets().items:
        if dataset.comment and (dataset.comment.startswith(HOSTILE) or dataset.comment.startswith(HEADING)):
            api.delete_dataset(dataset.id)


def assert_shown_as_text(page: Page) -> None:
    """Nothing the hostile comments hold became an element: no bold, image, formula, colour or heading."""
    found = page.evaluate("""() => ({
        strong: [...document.querySelectorAll('strong, b')].filter(e => e.innerText.includes('bold')).length,
        img: [...document.querySelectorAll('img')].filter(e => !e.src.startsWith(location.origin)
                                                              && !e.src.startsWith('data:')).length,
        katex: document.querySelectorAll('.katex, math').length,
        link: [...document.querySelectorAll('a')].filter(e => e.href.includes('127.0.0.1:9/')).length,
        red: [...document.querySelectorAll('span')].filter(e => e.innerText.trim() === 'red').length,
        heading: [...document.querySelectorAll('h1, h2, h3, h4, h5, h6')]
            .filter(e => e.innerText.trim().startsWith('Heading line')).length,
    })""")
    assert found == {"strong": 0, "img": 0, "katex": 0, "link": 0, "red": 0, "heading": 0}


def test_hostile_comments_are_shown_as_text_on_every_page(
    privx_app: RunningApp, page: Page, api: UebaClient, hostile_datasets: dict[str, str], requests: list[str]
) -> None:
    url = privx_app.url
    hostile, heading = hostile_datasets["hostile"], hostile_datasets["heading"]
    # The editor's title (one line, cut at 80 characters), and the full text on demand.
    titles = {hostile: HOSTILE[:79].rstrip() + "…", heading: "# Heading line second line"}
    for dataset_id, title in titles.items():
        page.goto(f"{url}/dataset_editor?dataset={dataset_id}")
        settled(page)
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        # Zero-width spaces keep addresses from becoming links (ui/text.py): invisible, so not compared.
        assert page.get_by_role("heading", level=1).inner_text().replace("\u200b", "") == title
        assert_shown_as_text(page)
    page.get_by_text("Full comment").click()
    expect(page.get_by_test_id("stText")).to_have_text(HEADING)
    assert_shown_as_text(page)

    # The datasets panel heading, the delete dialog and the duplicate toast.
    page.goto(url)  # the default page's address is the app's own
    settled(page)
    table = page.get_by_test_id("stDataFrame").first
    rows = [dataset.id for dataset in api.list_datasets().items]
    # The table lists the datasets in the API's order and scrolls: from its bottom, with the last row shown.
    table.hover()
    page.mouse.wheel(0, 100_000)
    page.wait_for_timeout(500)
    box = table.bounding_box()
    page.mouse.click(box["x"] + 15, box["y"] + box["height"] - 35 * (len(rows) - rows.index(hostile) - 0.5))
    expect(page.get_by_role("heading", level=3)).to_contain_text("**bold**", timeout=RUN_TIMEOUT)
    settled(page)
    page.get_by_role("button", name="Delete", exact=True).click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("“**bold** <img src=x")
    assert_shown_as_text(page)
    settled(page)
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_have_count(0)
    settled(page)
    page.get_by_role("button", name="Duplicate").click()
    expect(page.get_by_test_id("stToast")).to_contain_text("Duplicated as “**bold**", timeout=RUN_TIMEOUT)
    assert_shown_as_text(page)
    settled(page)
    page.screenshot(path=ARTIFACTS / "hostile-comment.png", full_page=True)

    # The dataset picker of the training review (run labels there are "#n"), and the comparison.
    page.goto(f"{url}/training?dataset={heading}")
    settled(page)
    expect(page.get_by_role("combobox", name="Dataset")).to_have_value(re.compile(r"^# Heading line"),
                                                                      timeout=RUN_TIMEOUT)
    assert_shown_as_text(page)
    page.goto(f"{url}/compare")
    settled(page)
    assert_shown_as_text(page)
    page.wait_for_timeout(1000)
    assert foreign(requests, url) == []


@pytest.fixture(scope="module")
def hung_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    """The app configured for a server that accepts connections and never answers."""
    hung = ClosingServer(hang=True)
    try:
        secrets = f'[privx]\nbase_url = "{hung.url}"\ntoken = "not-a-real-token"\n'
        with running_app(tmp_path_factory.mktemp("hung-app"), secrets) as app:
            try:
                yield app
            finally:
                # Before the app stops: a call still waiting on the hung server (one a user stopped waiting
                # for goes on in the background) ends at once, and Streamlit need not wait for it to exit.
                hung.close()
    finally:
        hung.close()


def test_waiting_for_a_hung_server_says_for_what_and_can_be_stopped(hung_app: RunningApp, page: Page) -> None:
    page.goto(hung_app.url)
    # The badge's /status waits its read timeout first; then the page's own read shows what it waits for.
    waiting = page.get_by_text(re.compile(r"Waiting for http://127\.0\.0\.1:\d+ to load the datasets… \d+ s"))
    expect(waiting).to_be_visible(timeout=FIRST_START_TIMEOUT)
    page.get_by_role("button", name="Stop waiting").click()
    # The address is shown as text: an invisible zero-width space keeps it from becoming a link.
    stopped = re.compile(r"Stopped waiting for http\u200b?://127\.0\.0\.1:\d+ to load the datasets\.")
    expect(page.get_by_text(stopped)).to_be_visible(timeout=3_000)
    expect(page.get_by_role("button", name="Retry")).to_be_visible()
    # The page stays usable: another page opens at once (the badge remembers its failure for a while).
    started = time.monotonic()
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Connection").click()
    expect(page.get_by_role("heading", name="Connect to PrivX")).to_be_visible(timeout=5_000)
    assert time.monotonic() - started < 5
