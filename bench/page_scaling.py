"""AppTest reruns of the Datasets and Training pages: a small history against a large one.

Two reference servers, one on 10 datasets x 1 run x 15 epochs, one on 1,000 datasets x 20 runs x 200
epochs (--quick: 200 x 10 x 100), both histories written by `bench.history`. For each page, an AppTest
of app.py on each server opens the page, then reruns it in turns with the other; the median rerun is
what a click costs. Target: a rerun on the large history takes at most 2x one on the small.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager
from streamlit.testing.v1 import AppTest

from bench.harness import Verdict, detail, median, take_turns, wait_for_standby
from bench.history import write_history
from ueba_server.launch import PROJECT_ROOT, RunningServer, start_server

APP = str(PROJECT_ROOT / "app.py")
PAGES = {"Datasets": "pages/datasets.py", "Training": "pages/training.py"}
SMALL = (10, 1, 15)
LARGE, QUICK_LARGE = (1_000, 20, 200), (200, 10, 100)
RERUNS, QUICK_RERUNS = 5, 3
MAX_RATIO = 2.0
RUN_TIMEOUT = 600


@contextmanager
def navigation_runs() -> Iterator[None]:
    """AppTest runs app.py through st.navigation on every run, as `streamlit run` does (AppTest would
    take the legacy pages/ folder path after its first run; tests/app/conftest.py explains it)."""
    original_init = PagesManager.__init__

    def init(self: PagesManager, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    PagesManager.__init__ = init  # type: ignore[method-assign]
    try:
        yield
    finally:
        PagesManager.__init__ = original_init  # type: ignore[method-assign]
        st.cache_resource.clear()  # closes the app's cached clients, which would hold up a server's stop


def opened(server: RunningServer, page: str) -> AppTest:
    app = AppTest.from_file(APP, default_timeout=RUN_TIMEOUT)
    app.secrets["privx"] = {
        "base_url": server.base_url,
        "client_id": server.client_id,
        "client_secret": server.client_secret,
        "oauth_client_id": server.oauth_client_id,
        "oauth_client_secret": server.oauth_client_secret,
    }
    app.run()
    if page != PAGES["Datasets"]:
        app.switch_page(page).run()
    return app


def rerun(app: AppTest) -> None:
    app.run()
    if app.exception:
        raise RuntimeError(f"the page failed: {app.exception[0].message}")


def run(quick: bool) -> Verdict:
    large = QUICK_LARGE if quick else LARGE
    reruns = QUICK_RERUNS if quick else RERUNS
    sizes = {"small": SMALL, "large": large}
    ratios = {}
    with tempfile.TemporaryDirectory(prefix="ueba-bench-") as root, ExitStack() as stack:
        servers = {}
        for label, (datasets, runs, epochs) in sizes.items():
            data_dir = Path(root) / label
            seconds = write_history(data_dir, datasets, runs, epochs)
            detail(
                f"{label}: {datasets:,} datasets x {runs} runs x {epochs} epochs written in {seconds:.1f} s"
            )
            servers[label] = stack.enter_context(start_server(data_dir, connections=20_000))
        for server in servers.values():
            wait_for_standby(server)
        stack.enter_context(navigation_runs())
        for name, page in PAGES.items():
            apps, first = {}, {}
            for label, server in servers.items():
                started = time.perf_counter()
                apps[label] = opened(server, page)
                first[label] = time.perf_counter() - started
            durations = take_turns(reruns, {label: lambda app=app: rerun(app) for label, app in apps.items()})
            small, big = median(durations["small"]), median(durations["large"])
            ratios[name] = big / small
            detail(
                f"{name:>8} page: first open {first['small']:.2f} s small, {first['large']:.2f} s large;"
                f" rerun median {small:.2f} s small, {big:.2f} s large: {big / small:.1f}x ({reruns} each)"
            )
    label = "x".join(str(number) for number in large)
    return Verdict(
        "page_scaling",
        ", ".join(f"{name} {ratio:.1f}x" for name, ratio in ratios.items())
        + f" the small history's rerun at {label}",
        f"<= {MAX_RATIO:.0f}x at {'x'.join(str(number) for number in LARGE)}",
        max(ratios.values()) <= MAX_RATIO,
    )
