"""What a run of the Training review page asks of the server, counted by a proxy in front of it: a server
holding many datasets with long histories, as a PrivX does after months of use.

The list of datasets (every run's losses: the API cannot leave them out) is asked for once, with as little
as the API allows, and then shared; a rerun of the page asks for the one dataset it shows and for the
small `/status/internal`, never the list again. The bytes of a rerun do not grow with the other datasets.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from streamlit.testing.v1 import AppTest

from bench.history import write_history
from tests.app.conftest import APP, RUN_TIMEOUT, privx_secrets, select_dataset
from tests.app.counting_proxy import CountingProxy, Exchange
from ueba_server.launch import RunningServer, start_server
from ueba_server.openapi import UEBA_PREFIX

TRAINING_PAGE = "pages/training.py"
DATASETS, RUNS, EPOCHS = 120, 4, 30


@pytest.fixture(scope="module")
def history_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningServer, list[str]]]:
    data_dir = tmp_path_factory.mktemp("history-server")
    write_history(data_dir, DATASETS, RUNS, EPOCHS)
    with start_server(data_dir, connections=10_000, seed=5, epochs=5) as server, server.client() as api:
        ids = [dataset.id for dataset in api.list_datasets(logs=False, bin_count=1).items]
        yield server, ids


def ueba_calls(exchanges: list[Exchange]) -> list[tuple[str, str, str]]:
    """(method, path under the UEBA prefix, query) of the API calls, leaving out `/status` (the sidebar's
    badge, cached on its own) and OAuth token requests."""
    return [(exchange.method, exchange.path.removeprefix(UEBA_PREFIX), exchange.query)
            for exchange in exchanges
            if exchange.path.startswith(UEBA_PREFIX) and exchange.path != f"{UEBA_PREFIX}/status"]


def test_a_rerun_of_the_training_page_asks_for_its_dataset_only(
    history_server: tuple[RunningServer, list[str]],
) -> None:
    server, ids = history_server
    shown = ids[-1]
    with CountingProxy(server.base_url) as proxy:
        app = AppTest.from_file(APP, default_timeout=RUN_TIMEOUT)
        app.secrets["privx"] = privx_secrets(server, base_url=proxy.url)
        app.run()  # the default page (Datasets): it loads the shared list the Training page then reads
        opening = proxy.take()
        app.query_params["dataset"] = shown
        app.switch_page(TRAINING_PAGE).run()
        assert not app.exception, app.exception
        first = proxy.take()
        # Listed slim once, by the Datasets page (the other slim listing is the 5-minute access check);
        # the Training page reads that shared list.
        listings = [exchange for exchange in opening + first if exchange.path == f"{UEBA_PREFIX}/datasets"]
        assert {exchange.query for exchange in listings} == {"logs=false&bin_count=1"}, "slim listings"
        assert len(listings) <= 2 and not [exchange for exchange in first if exchange in listings]
        listing_bytes = max(exchange.body_bytes for exchange in listings)
        # The threshold explorer's finest histogram: fetched once, for the run under review.
        assert ("GET", f"/datasets/{shown}", "logs=false&bin_count=1000") in ueba_calls(first)

        reruns = []
        for _ in range(3):
            started = time.perf_counter()
            app.run()
            reruns.append(time.perf_counter() - started)
            assert not app.exception, app.exception
            calls = proxy.take()
            # The one dataset the page shows; the list, and whether a training ended since it was made
            # (/status/internal), come from the caches.
            assert ueba_calls(calls) == [("GET", f"/datasets/{shown}", "logs=false")]
            rerun_bytes = sum(exchange.body_bytes for exchange in calls)
            assert rerun_bytes * 20 < listing_bytes, (rerun_bytes, listing_bytes)
    print(f"\n{DATASETS} datasets x {RUNS} runs x {EPOCHS} epochs: listing {listing_bytes:,} bytes once; "
          f"a rerun {rerun_bytes:,} bytes in 1 request, {min(reruns) * 1000:.0f} ms")


def test_a_rerun_of_the_datasets_page_asks_for_no_list_and_no_counts(
    history_server: tuple[RunningServer, list[str]],
) -> None:
    server, ids = history_server
    count_path = f"{UEBA_PREFIX}/query-connection-count"
    with CountingProxy(server.base_url) as proxy:
        app = AppTest.from_file(APP, default_timeout=RUN_TIMEOUT)
        app.secrets["privx"] = privx_secrets(server, base_url=proxy.url)
        app.run()  # the default page: Datasets
        assert not app.exception, app.exception
        first = proxy.take()
        listings = [exchange for exchange in first if exchange.path == f"{UEBA_PREFIX}/datasets"]
        # The page's slim listing, and the access check's (cached for 5 minutes, whatever the page).
        assert [exchange.query for exchange in listings] == ["logs=false&bin_count=1"] * 2, "slim listings"
        # The table leaves unknown counts blank: no count per dataset (1,000 requests on a real PrivX).
        assert not [exchange for exchange in first if exchange.path == count_path]

        reruns = []
        for _ in range(3):
            started = time.perf_counter()
            app.run()
            reruns.append(time.perf_counter() - started)
            assert not app.exception, app.exception
            # The list and whether a training ended since (/status/internal) come from the caches.
            assert ueba_calls(proxy.take()) == []

        # The selected dataset's panel counts that one dataset, once: its count is cached for the table.
        select_dataset(app, ids[0])
        assert not app.exception, app.exception
        assert [exchange.path for exchange in proxy.take() if exchange.path == count_path] == [count_path]
        app.run()
        assert ueba_calls(proxy.take()) == []
    print(f"\n{DATASETS} datasets x {RUNS} runs x {EPOCHS} epochs: Datasets page rerun 0 requests, "
          f"{min(reruns) * 1000:.0f} ms")
