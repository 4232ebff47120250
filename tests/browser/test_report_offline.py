"""A generated model-quality report opened in Chromium from a file:// URL with the network blocked: the
charts draw from the inlined Vega, no request goes to any host, and one run prints on two A4 pages."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta

import pytest

from ueba_api import report
from ueba_api.models import Dataset, TimeRange, TrainingStatus

pytestmark = pytest.mark.browser

RENDER_TIMEOUT_MS = 20_000


@pytest.fixture(scope="module")
def report_file(reference_server, tmp_path_factory):
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    with reference_server.client() as api:
        dataset_id = api.create_dataset(Dataset(
            time_range_settings=TimeRange(start=now - timedelta(days=60), end=now),
            comment="Offline report\n" + "A long comment line that wraps. " * 40))
        api.train_dataset(dataset_id)
        deadline = time.monotonic() + 120
        while api.get_dataset(dataset_id).latest_result.status == TrainingStatus.TRAINING:
            assert time.monotonic() < deadline
            time.sleep(0.3)
        path = tmp_path_factory.mktemp("report") / "report.html"
        path.write_text(report.quality_report(api, dataset_id, thresholds=[0.05]), encoding="utf-8")
    return path


def test_report_draws_offline_and_asks_no_host(browser, report_file):
    context = browser.new_context(viewport={"width": 1000, "height": 1200})
    requested: list[str] = []

    def block(route):
        requested.append(route.request.url)
        route.abort()

    context.route(re.compile(r"^(?!file:).*"), block)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    try:
        page.goto(report_file.as_uri())
        charts = page.locator("div.vega")
        assert charts.count() == 2  # loss curves and the validation histogram
        page.wait_for_function(
            "() => [...document.querySelectorAll('div.vega')].every(chart => "
            "chart.querySelector('svg .mark-line path, svg .mark-rect path'))",
            timeout=RENDER_TIMEOUT_MS)
        lines = page.locator("#chart-loss-curves svg .mark-line path").count()
        bars = page.locator("#chart-validation-histogram svg .mark-rect path").count()
        rules = page.locator("#chart-validation-histogram svg .mark-rule.role-mark line").count()
        assert lines >= 2 and bars >= 10 and rules == 4  # both splits; the bins; mean, +3·std, q99, q999
        assert page.locator(".comment").inner_text().startswith("Offline report\nA long comment")
        pdf = page.pdf(format="A4")
    finally:
        context.close()
    assert requested == []
    assert errors == []
    pages = len(re.findall(rb"/Type\s*/Page\b", pdf))
    assert 1 <= pages <= 2, f"one run should print on two A4 pages, got {pages}"
