"""The model-quality report of runs trained on the reference server: every number in it equals the API's
(or what follows from the API's numbers by the report's stated rule), shown as text that reads the same."""

from __future__ import annotations

import math
import re
import time
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from ueba_api import report
from ueba_api.models import Dataset, Period, TimeRange, TrainingStatus

DAY = timedelta(days=1)
POLL = 0.1


def train_and_wait(api, dataset_id: str) -> None:
    api.train_dataset(dataset_id)
    deadline = time.monotonic() + 120
    while api.get_dataset(dataset_id).latest_result.status == TrainingStatus.TRAINING:
        assert time.monotonic() < deadline
        time.sleep(POLL)


@pytest.fixture(scope="module")
def two_runs(reference_server):
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    with reference_server.client() as api:
        dataset = Dataset(
            time_range_settings=TimeRange(
                start=now - 80 * DAY,
                end=now,
                exclude=[
                    Period(start=now - 30 * DAY, end=now - 26 * DAY),
                    Period(start=now - 28 * DAY, end=now - 20 * DAY),  # overlaps the first: counted once
                    Period(start=now - 90 * DAY, end=now - 79 * DAY),  # partly before the range
                ],
            ),
            comment="Report <script>alert(1)</script>\nsecond line & more",
        )
        dataset_id = api.create_dataset(dataset)
        train_and_wait(api, dataset_id)
        train_and_wait(api, dataset_id)
        yield dataset_id


def share_above(histogram, loss: float) -> float:
    """Written again here, plainly: connections above `loss`, those in its bin spread evenly."""
    counts, edges = np.asarray(histogram.hist), np.asarray(histogram.bin_edges)
    above = 0.0
    for count, low, high in zip(counts, edges[:-1], edges[1:], strict=True):
        if low >= loss:
            above += count
        elif high > loss:
            above += count * (high - loss) / (high - low)
    return above / counts.sum()


def final(losses):
    return [loss for loss in losses if math.isfinite(loss)][-1]


def expected_numbers(dataset: Dataset, connections: int, numbers: tuple[int, int], extra: float) -> dict:
    time_range = dataset.time_range_settings
    start, end = time_range.start, time_range.end
    # The exclusions above cover [now-30, now-20) and [range start, now-79): 10 + 1 days.
    excluded = 11.0
    included = (end - start) / DAY - excluded
    per_day = connections / included
    expected = {
        "dataset.range_days": (end - start) / DAY,
        "dataset.exclusions": len(time_range.exclude),
        "dataset.excluded_days": excluded,
        "dataset.included_days": included,
        "dataset.connections": connections,
        "dataset.connections_per_day": per_day,
    }
    for position, period in enumerate(time_range.exclude, start=1):
        expected[f"exclusion.{position}.days"] = (period.end - period.start) / DAY
    results = {number: dataset.training_results[number - 1] for number in numbers}
    for number, result in results.items():
        size = sum(result.validation_dataset_histogram.hist)
        key = f"run.{number}"
        expected |= {
            f"{key}.num_connections": result.num_connections,
            f"{key}.epochs": len(result.validation_dataset_loss),
            f"{key}.validation_size": size,
            f"{key}.bins": len(result.validation_dataset_histogram.hist),
        }
        losses = {
            "q99": result.quantile_99,
            "q999": result.quantile_999,
            "mean + 3·std": result.mean + 3 * result.std,
            f"threshold {extra:g}": extra,
        }
        for name, loss in losses.items():
            share = share_above(result.validation_dataset_histogram, loss)
            expected |= {
                f"{key}.threshold.{name}.loss": loss,
                f"{key}.threshold.{name}.share": share,
                f"{key}.threshold.{name}.validation_above": share * size,
                f"{key}.threshold.{name}.alerts_per_day": share * per_day,
            }
    statistics = {
        number: {
            "num_connections": result.num_connections,
            "epochs": len(result.validation_dataset_loss),
            "final_training_loss": final(result.training_dataset_loss),
            "final_validation_loss": final(result.validation_dataset_loss),
            "mean": result.mean,
            "std": result.std,
            "quantile_99": result.quantile_99,
            "quantile_999": result.quantile_999,
        }
        for number, result in results.items()
    }
    first, second = numbers
    for name in statistics[first]:
        a, b = statistics[first][name], statistics[second][name]
        expected |= {
            f"statistics.run.{first}.{name}": a,
            f"statistics.run.{second}.{name}": b,
            f"statistics.difference.{name}": b - a,
            f"statistics.relative.{name}": (b / a - 1) * 100,
        }
    return expected


def reads_as(text: str, value: float) -> bool:
    """Whether the shown text is the value, rounded as shown (percentages are of 100)."""
    number = float(text.replace(",", "").replace("%", "").replace("+", ""))
    scale = 100 if text.endswith("%") else 1
    digits = text.rstrip("%").split(".")[1] if "." in text.rstrip("%") else ""
    tolerance = 0.5 * 10 ** -len(digits) if "e" not in text else abs(number) * 1e-4
    return abs(number - value * scale) <= max(tolerance, abs(value * scale) * 5e-5) + 1e-12


def test_every_number_in_the_report_is_the_apis(api, two_runs):
    dataset = api.get_dataset(two_runs)
    connections = api.count_connections(dataset.time_range_settings)
    html = report.quality_report(api, two_runs, 2, compare=1, thresholds=[0.05])
    numbers = report.report_numbers(html)
    expected = expected_numbers(dataset, connections, (2, 1), 0.05)
    assert set(numbers) == set(expected)
    for key, value in expected.items():
        shown = numbers[key]
        assert shown.value == pytest.approx(value, rel=1e-12, abs=1e-12), key
        assert reads_as(shown.text, value), (key, shown.text, value)
    # The API's own numbers are carried exactly, not recomputed.
    result = dataset.training_results[1]
    assert numbers["statistics.run.2.quantile_99"].value == result.quantile_99
    assert numbers["run.2.threshold.q999.loss"].value == result.quantile_999
    assert numbers["dataset.connections"].value == connections


def test_the_report_shows_user_text_as_text_and_says_where_it_came_from(api, two_runs, reference_server):
    html = report.quality_report(api, two_runs, 1)
    assert "<script>alert(1)</script>" not in html
    assert "Report &lt;script&gt;alert(1)&lt;/script&gt;\nsecond line &amp; more" in html
    footer = re.search(r"<footer>(.*?)</footer>", html, re.S).group(1)
    assert reference_server.base_url in footer and api.get_status().version in footer
    made = re.search(r"made (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC", footer).group(1)
    assert abs(
        datetime.strptime(made, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC) - datetime.now(UTC)
    ) < 60 * timedelta(seconds=1)
    # Offline: no address to fetch anything from (the only URLs are XML namespaces and Vega's own
    # documentation links inside the bundled library, never loaded).
    fetched = re.findall(r"""(?:src|href)\s*=\s*["']?(https?:)?//""", html)
    assert fetched == []
    assert "@import" not in html and "@font-face" not in html


def test_charts_are_the_apps_charts_and_write_as_files(api, two_runs, tmp_path):
    dataset = api.get_dataset(two_runs)
    made = report.report_charts(dataset, 2, 1)
    assert [chart.name for chart in made] == [
        "loss-curves",
        "validation-histogram-2",
        "validation-histogram-1",
    ]
    histogram = made[1].chart.to_dict()
    layers = histogram["layer"]
    bins = histogram["datasets"][layers[0]["data"]["name"]]
    assert [row["count"] for row in bins] == dataset.training_results[1].validation_dataset_histogram.hist
    written = report.write_charts(made, tmp_path / "charts")
    assert sorted(path.name for path in written) == sorted(
        f"{chart.name}.{kind}" for chart in made for kind in ("svg", "png")
    )
    assert (tmp_path / "charts" / "loss-curves.svg").read_text().lstrip().startswith("<svg")
    assert (tmp_path / "charts" / "loss-curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_unknown_runs_are_refused_by_name(api, two_runs):
    dataset = api.get_dataset(two_runs)
    server = report.ServerInfo(api.base_url)
    with pytest.raises(ValueError, match=r"^compare: .* runs 1 to 2, not 3"):
        report.quality_report_html(dataset, 1, compare=3, server=server)
    with pytest.raises(ValueError, match=r"^run: "):
        report.quality_report_html(dataset, 0, server=server)
