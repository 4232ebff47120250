"""Every kind of credential typed into the Connection page, a bearer token with a trailing space among
them, leaves no trace: not in the page, the app's log, the server's log, nor any error the page shows."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import RunningApp
from tests.browser.test_trust import FIRST_START_TIMEOUT, RUN_TIMEOUT, settled
from tests.server.helpers import bearer_token
from ueba_server.launch import RunningServer

pytestmark = pytest.mark.browser

WRONG_TOKEN = "wrong-token-c0ffee-4242 "


def connection_page(page: Page, app: RunningApp, server: RunningServer) -> None:
    page.goto(f"{app.url}/connection")
    expect(page.get_by_role("heading", name="Connect to PrivX")).to_be_visible(timeout=FIRST_START_TIMEOUT)
    settled(page)
    page.get_by_label("Base URL", exact=True).fill(server.base_url)


def use_token(page: Page, token: str) -> None:
    page.get_by_test_id("stRadioGroup").get_by_text("Bearer token", exact=True).click()
    settled(page)
    page.locator("input[type=password][aria-label='Bearer token']").fill(token)


def test_no_credential_shows_anywhere(streamlit_app: RunningApp, page: Page,
                                      reference_server: RunningServer) -> None:
    token = bearer_token(reference_server, reference_server.client_id, reference_server.client_secret)
    secrets = [reference_server.client_secret, reference_server.oauth_client_secret, token,
               WRONG_TOKEN.strip()]
    # After Test the typed values are still in their password fields (the user's own typing, kept so that
    # Connect can follow): there the page's text is searched, errors included; everywhere else its HTML.
    pages: list[str] = []
    sidebar = page.get_by_test_id("stSidebar")

    # API client credentials: Test, then Connect.
    connection_page(page, streamlit_app, reference_server)
    page.get_by_label("API client ID", exact=True).fill(reference_server.client_id)
    page.get_by_label("API client secret", exact=True).fill(reference_server.client_secret)
    page.get_by_label("OAuth client secret", exact=True).fill(reference_server.oauth_client_secret)
    page.get_by_role("button", name="Test connection").click()
    expect(page.get_by_text("The server answers:")).to_be_visible(timeout=RUN_TIMEOUT)
    settled(page)
    pages.append(page.inner_text("body"))
    page.get_by_role("button", name="Connect", exact=True).click()
    expect(sidebar.get_by_text(f"PrivX at {reference_server.base_url}")).to_be_visible(timeout=RUN_TIMEOUT)
    settled(page)
    pages.append(page.content())

    # A valid token with a trailing space: stripped where the settings are read, so it works.
    use_token(page, token + " ")
    page.get_by_role("button", name="Test connection").click()
    expect(page.get_by_text("The server answers:")).to_be_visible(timeout=RUN_TIMEOUT)
    settled(page)
    pages.append(page.inner_text("body"))
    page.get_by_role("button", name="Connect", exact=True).click()
    now_using = page.get_by_text(f"Now using PrivX at {reference_server.base_url}")
    expect(now_using).to_be_visible(timeout=RUN_TIMEOUT)
    settled(page)
    pages.append(page.content())

    # A wrong token with a trailing space: refused with the server's sentence, never echoed.
    use_token(page, WRONG_TOKEN)
    page.get_by_role("button", name="Test connection").click()
    expect(page.get_by_text("refuses these credentials")).to_be_visible(timeout=RUN_TIMEOUT)
    settled(page)
    pages.append(page.inner_text("body"))

    # Every other page, on the token's session, with whatever errors they show.
    for path in ("", "dataset_editor", "training", "compare"):
        page.goto(f"{streamlit_app.url}/{path}")
        settled(page)
        pages.append(page.content())

    logs = {"app log": streamlit_app.log.read_text(errors="replace"),
            "server log": (reference_server.data_dir / "server.log").read_text(errors="replace")}
    seen = [(where, secret[:6]) for secret in secrets
            for where, text in [*((f"page {n}", html) for n, html in enumerate(pages)), *logs.items()]
            if secret in text]
    assert seen == [], seen
