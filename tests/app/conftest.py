"""AppTest fixtures: the app pointed at the session's reference server through secrets, over real HTTP.

The app never starts an embedded server here: secrets name the reference server, PRIVX_API_* variables
are cleared, and UEBA_NOTEBOOK_DATA_DIR points at a temporary directory all the same.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import streamlit as st
from streamlit.dataframe_util import convert_arrow_bytes_to_pandas_df
from streamlit.runtime.pages_manager import PagesManager
from streamlit.testing.v1 import AppTest

from ueba_api.client import UebaClient
from ueba_api.models import Dataset, Period, TimeRange, TrainingStatus
from ueba_server.launch import RunningServer
from ui import listing, server

APP = str(Path(__file__).resolve().parents[2] / "app.py")
RUN_TIMEOUT = 60
TRAINING_TIMEOUT = 120


def privx_secrets(server: RunningServer, **overrides: Any) -> dict[str, Any]:
    """The `[privx]` section of secrets.toml for `server`."""
    section = {
        "base_url": server.base_url,
        "client_id": server.client_id,
        "client_secret": server.client_secret,
        "oauth_client_id": server.oauth_client_id,
        "oauth_client_secret": server.oauth_client_secret,
    }
    if server.ca_cert:
        section["ca_cert"] = str(server.ca_cert)
    return section | overrides


@pytest.fixture(autouse=True)
def isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("BASE_URL", "TOKEN", "CLIENT_ID", "CLIENT_SECRET", "OAUTH_CLIENT_ID", "OAUTH_CLIENT_SECRET",
                 "CA_CERT"):
        monkeypatch.delenv(f"PRIVX_API_{name}", raising=False)
    monkeypatch.setenv("UEBA_NOTEBOOK_DATA_DIR", str(tmp_path / "embedded-server"))


@pytest.fixture(autouse=True)
def navigation_app(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run app.py through st.navigation on every AppTest run, as `streamlit run` does.

    AppTest resets `PagesManager.uses_pages_directory` before each run and, because this app keeps its
    pages in a `pages/` folder, the new PagesManager sets it again: every run after the first then takes
    Streamlit's legacy folder-based path, which runs a page whose url_path matches its file name
    *without* app.py. `streamlit run` sets the flag once and st.navigation clears it for the process;
    this does the same after each AppTest reset.
    """
    original_init = PagesManager.__init__

    def init(self: PagesManager, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    monkeypatch.setattr(PagesManager, "__init__", init)


@pytest.fixture(autouse=True)
def close_cached_clients() -> Iterator[None]:
    """Closes the app's cached clients after each test: their keep-alive connections would hold up a
    reference server's graceful shutdown."""
    yield
    server.close_clients()
    # Each test starts without cached answers (the shared dataset listing among them): in one process the
    # caches would otherwise carry one test's server state into the next, younger than their TTLs.
    st.cache_data.clear()
    listing.forget_listing()


@pytest.fixture
def make_app(reference_server: RunningServer) -> Callable[..., AppTest]:
    """An AppTest of app.py on the reference server; keywords go to the `[privx]` secrets."""

    def make(**secrets: Any) -> AppTest:
        app = AppTest.from_file(APP, default_timeout=RUN_TIMEOUT)
        app.secrets["privx"] = privx_secrets(reference_server, **secrets)
        return app

    return make


@pytest.fixture
def app(make_app: Callable[..., AppTest]) -> AppTest:
    return make_app()


def unique_comment(what: str) -> str:
    return f"{what} {uuid.uuid4().hex[:8]}"


@pytest.fixture
def new_dataset(api: UebaClient) -> Iterator[Callable[..., Dataset]]:
    """Creates datasets through the API (a month of the session server's history by default); deletes
    whatever is left of them afterwards."""
    created: list[str] = []

    def create(comment: str = "", exclude: list[Period] | None = None, **range_fields: Any) -> Dataset:
        start, end = history_month(api)
        time_range = TimeRange(start=range_fields.get("start", start), end=range_fields.get("end", end),
                               exclude=exclude or [])
        dataset_id = api.create_dataset(Dataset(time_range_settings=time_range,
                                                comment=comment or unique_comment("test dataset")))
        created.append(dataset_id)
        return api.get_dataset(dataset_id)

    yield create
    active = {dataset.id for dataset in api.list_datasets().items if dataset.is_active}
    for dataset_id in created:
        if dataset_id in active:
            api.stop_analyzing()
        if dataset_id in {dataset.id for dataset in api.list_datasets().items}:
            api.delete_dataset(dataset_id)


@pytest.fixture
def no_active_dataset(api: UebaClient) -> Iterator[None]:
    """Runs a test with no active dataset; the one active before (other tests') is active again after."""
    before = next((dataset.id for dataset in api.list_datasets().items if dataset.is_active), None)
    api.stop_analyzing()
    yield
    api.stop_analyzing()
    if before:
        api.start_analyzing(before)


def status_detail(api: UebaClient, key: str) -> Any:
    return next(detail.v for detail in api.get_status().status_details if detail.k == key)


def history_month(api: UebaClient) -> tuple[datetime, datetime]:
    """The last 30 whole days of the server's connection history."""
    end = datetime.fromisoformat(status_detail(api, "connections_last")).replace(
        hour=0, minute=0, second=0, microsecond=0)
    return end - timedelta(days=30), end


def train_and_wait(api: UebaClient, dataset_id: str) -> Dataset:
    """Trains through the API and waits for the result (the session server trains in seconds)."""
    api.train_dataset(dataset_id)
    deadline = time.monotonic() + TRAINING_TIMEOUT
    while time.monotonic() < deadline:
        dataset = api.get_dataset(dataset_id)
        if dataset.latest_result and dataset.latest_result.status != TrainingStatus.TRAINING:
            assert dataset.latest_result.status == TrainingStatus.SUCCESS, dataset.latest_result.error_details
            return dataset
        time.sleep(0.1)
    raise AssertionError(f"training of {dataset_id} did not finish within {TRAINING_TIMEOUT} s")


def unescaped(markdown: str) -> str:
    """Markdown as the browser shows it, for text the app escapes (ui/text.py): backslash escapes undone,
    and the zero-width spaces that keep addresses from becoming links (invisible on screen) dropped."""
    return re.sub(r"\\(.)", r"\1", markdown).replace("\u200b", "")


def texts(app: AppTest) -> list[str]:
    """Every piece of text the app rendered: markdown, alerts, captions, labels, values, table cells."""
    found = []

    def visit(node: Any) -> None:
        proto = getattr(node, "proto", None)
        if proto is not None:
            found.append(str(proto))
        for child in getattr(node, "children", {}).values():
            visit(child)

    visit(app._tree)
    return found


def vega_specs(app: AppTest) -> list[dict]:
    """Each chart's Vega-Lite spec, with the data Streamlit sends beside it put back under "datasets"."""
    specs = []
    for chart in app.get("vega_lite_chart"):
        spec = json.loads(chart.proto.spec)
        spec["datasets"] = {
            dataset.name: convert_arrow_bytes_to_pandas_df(dataset.data.data).to_dict("records")
            for dataset in chart.proto.datasets
        }
        specs.append(spec)
    return specs


def select_dataset(app: AppTest, dataset_id: str) -> AppTest:
    """Selects the dataset's row of the datasets table, as a click on it would, and reruns."""
    [table] = [frame for frame in app.dataframe if (frame.key or "").startswith("datasets.table")]
    rows = list(table.value["id"])
    app.session_state[table.key] = {"selection": {"rows": [rows.index(dataset_id)], "columns": []}}
    return app.run()
