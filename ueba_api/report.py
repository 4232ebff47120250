"""The model-quality report: one self-contained HTML file per run, for a change board or an auditor.

    html = quality_report_html(dataset, 3, server=ServerInfo(api.base_url, "1.2"), connections=n)
    html = quality_report(api, dataset_id, 3, compare=2, thresholds=[0.05])   # fetches what it needs

It opens offline: Vega, Vega-Lite and vega-embed are inlined from `vl-convert-python`'s bundle (no CDN,
no web fonts), the charts are the app's own (`ueba_api.charts`) with their data inline. User text is
escaped (shown as text). Each number sits in a `data-value` attribute beside its formatted text, so a
test can compare the report with the API. `write_charts` saves each chart as SVG/PNG for slides.

`vl_convert` is imported only when a report is made: importing this module stays light.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import altair as alt
import jinja2
import pandas as pd

from ueba_api import charts, frames, review
from ueba_api.frames import Run, training_runs
from ueba_api.models import Dataset, TrainingResult, enum_text
from ueba_api.quality import quality_hints
from ueba_api.report_data import dataset_span, threshold_table, validation_size

if TYPE_CHECKING:
    from ueba_api.client import UebaClient

TEMPLATE = "report_template.html.j2"
CHART_WIDTH = 540
LOSS_CHART_HEIGHT = 240
# More exclusions than this are counted, not listed: the report must stay printable.
MAX_LISTED_EXCLUSIONS = 20
CHART_FORMATS = ("svg", "png")
PNG_SCALE = 2
LOSS_FORMAT = ".5g"
NUMBER_PATTERN = re.compile(
    r'<span class="num[^"]*" data-key="([^"]+)"(?: data-value="([^"]*)")?>([^<]*)</span>'
)


@dataclass(frozen=True)
class ServerInfo:
    """Where the numbers came from, for the footer."""

    base_url: str
    version: str | None = None


@dataclass(frozen=True)
class ReportChart:
    name: str
    caption: str
    chart: alt.TopLevelMixin


def _vega_lite_version() -> str:
    """The Vega-Lite version altair writes ("v6.4.1" -> "6.4"), for vl-convert."""
    return ".".join(alt.SCHEMA_VERSION.lstrip("v").split(".")[:2])


@cache
def vega_bundle() -> str:
    """vega, vega-lite and vega-embed as one script, from vl-convert's bundle (built once, ~0.9 MB)."""
    import vl_convert

    bundle = vl_convert.javascript_bundle(vl_version=_vega_lite_version())
    # A literal "</script" would end the inline script early.
    return bundle.replace("</script", "<\\/script")


def _runs(dataset: Dataset, run: int | None, compare: int | None) -> list[Run]:
    runs = training_runs(dataset)
    if not runs:
        raise ValueError(f"run: dataset {dataset.id} has not been trained yet")
    if run is None:
        run = review.default_review_index([item.result for item in runs]) + 1
    chosen = [run] if compare is None else [run, compare]
    for name, number in zip(("run", "compare"), chosen, strict=False):
        if not 1 <= number <= len(runs):
            raise ValueError(f"{name}: dataset {dataset.id} has runs 1 to {len(runs)}, not {number}")
    return [runs[number - 1] for number in chosen]


def report_charts(dataset: Dataset, run: int | None = None, compare: int | None = None) -> list[ReportChart]:
    """The report's charts: loss curves of the run (and the compared one), each run's validation histogram
    with its statistic rules. The same `ueba_api.charts` functions as the app, sized for an A4 page."""
    runs = review.numbered(_runs(dataset, run, compare))
    made = [
        ReportChart(
            "loss-curves",
            "Training and validation loss per epoch",
            charts.loss_curves(frames.loss_frame(runs)).properties(
                width=CHART_WIDTH, height=LOSS_CHART_HEIGHT
            ),
        )
    ]
    for shown in runs:
        if frames.histogram_frame(shown.result).empty:
            continue
        suffix = "" if len(runs) == 1 else f"-{shown.number}"
        made.append(
            ReportChart(
                f"validation-histogram{suffix}",
                f"Validation loss per connection, run {shown.label}, with its mean, mean + 3·std, q99, q999",
                charts.validation_histogram(shown.result).properties(width=CHART_WIDTH),
            )
        )
    return made


def write_charts(
    made: Iterable[ReportChart], directory: str | Path, formats: Iterable[str] = CHART_FORMATS
) -> list[Path]:
    """Each chart as `<name>.svg` / `<name>.png` in `directory` (made if missing), for slides."""
    import vl_convert

    converters = {
        "svg": vl_convert.vegalite_to_svg,
        "png": lambda spec, vl_version: vl_convert.vegalite_to_png(spec, vl_version, scale=PNG_SCALE),
    }
    unknown = set(formats) - set(converters)
    if unknown:
        raise ValueError(f"formats: {sorted(unknown)} not among {sorted(converters)}")
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for chart in made:
        spec = chart.chart.to_dict()
        for extension in formats:
            path = folder / f"{chart.name}.{extension}"
            output = converters[extension](spec, vl_version=_vega_lite_version())
            if isinstance(output, str):
                path.write_text(output, encoding="utf-8")
            else:
                path.write_bytes(output)
            written.append(path)
    return written


def _spec_json(chart: alt.TopLevelMixin) -> str:
    """The chart's spec as JSON that is safe inside a <script> element ("<" escaped)."""
    return json.dumps(chart.to_dict(), allow_nan=False).replace("<", "\\u003c")


def _utc_text(value: datetime | None, seconds: bool = False) -> str:
    if value is None:
        return review.MISSING
    value = value.astimezone(UTC)
    return f"{value:%Y-%m-%d %H:%M:%S} UTC" if seconds else f"{value:%Y-%m-%d %H:%M} UTC"


def _formatted(pattern: str, value: Any) -> str:
    return format(value, pattern)


@cache
def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.FunctionLoader(
            lambda name: resources.files("ueba_api").joinpath(name).read_text(encoding="utf-8")
        ),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    environment.filters["utc"] = _utc_text
    environment.filters["fmt"] = _formatted
    return environment


@dataclass(frozen=True)
class _Cell:
    value: float | int | None
    key: str
    format: str


def _statistics(dataset: Dataset, runs: list[Run]) -> dict[str, Any]:
    """The statistics table: one column per run and, for two, their difference and relative change in
    percent (as `review.side_by_side` computes them for the comparison page)."""
    names = ("A", "B")[: len(runs)]
    history = frames.training_history(dataset).set_index("run").loc[[run.number for run in runs]]
    history = history.reset_index().assign(run_label=[run.label for run in runs])
    table = review.side_by_side(history, names)
    keys = [f"run.{run.number}" for run in runs]
    if len(runs) == 2:
        keys += ["difference", "relative"]
    table = table.iloc[:, : len(keys)]
    rows = []
    for (statistic, label), values in zip(
        review.COMPARED_STATISTICS.items(), table.itertuples(index=False), strict=True
    ):
        count = label in review.COUNT_STATISTICS
        cells = []
        for key, value in zip(keys, values, strict=True):
            if key == "relative":
                pattern = "+.2f"
            elif key == "difference":
                pattern = "+,.0f" if count else "+.5g"
            else:
                pattern = ",.0f" if count else LOSS_FORMAT
            shown = None if pd.isna(value) else float(value)
            cells.append(_Cell(shown, f"statistics.{key}.{statistic}", pattern))
        rows.append({"label": label, "cells": cells})
    return {"columns": [{"title": title} for title in table.columns], "rows": rows}


def quality_report_html(
    dataset: Dataset,
    run: int | None = None,
    *,
    compare: int | None = None,
    thresholds: Iterable[float] = (),
    server: ServerInfo,
    connections: int | None = None,
    made_at: datetime | None = None,
) -> str:
    """The report on run `run` (1-based; default the latest successful, as the review page opens) of
    `dataset`, beside run `compare` when given, as one self-contained HTML document.

    `connections` is the API's count for the dataset's time range (`count_connections`), which gives
    the connections a day behind the threshold table's alerts a day; `thresholds` are losses to add to
    that table. ValueError naming `run`/`compare` when the dataset has no such run.
    """
    runs = _runs(dataset, run, compare)
    labelled = review.numbered(runs)
    span = dataset_span(dataset.time_range_settings, connections)
    extra = list(thresholds)
    sides = []
    for key, shown in zip(("a", "b"), labelled, strict=False):
        result: TrainingResult = shown.result
        bins = frames.histogram_frame(result)
        heading = f"Run {shown.label}" if len(runs) == 1 else f"{key.upper()}: run {shown.label}"
        sides.append(
            {
                "key": f"run.{shown.number}",
                "heading": heading,
                "run": shown,
                "status": enum_text(result.status),
                "epochs": max(len(result.training_dataset_loss), len(result.validation_dataset_loss)),
                "validation_size": validation_size(result) if not bins.empty else None,
                "bins": len(bins),
                "hints": quality_hints(result),
                "thresholds": threshold_table(result, extra, connections_per_day=span.connections_per_day),
            }
        )
    made = report_charts(dataset, run if run is not None else runs[0].number, compare)
    title = f"{dataset.comment_title or dataset.id} · run #{runs[0].number}"
    if compare is not None:
        title += f" compared with run #{compare}"
    return (
        _environment()
        .get_template(TEMPLATE)
        .render(
            title=title,
            dataset=dataset,
            span=span,
            max_exclusions=MAX_LISTED_EXCLUSIONS,
            run_count=len(dataset.training_results),
            sides=sides,
            compare=compare is not None,
            statistics=_statistics(dataset, labelled),
            charts=[
                {"name": chart.name, "caption": chart.caption, "spec": _spec_json(chart.chart)}
                for chart in made
            ],
            server=server,
            made_at=made_at or datetime.now(UTC),
            vega_bundle=vega_bundle(),
        )
    )


def quality_report(
    client: UebaClient,
    dataset_id: str,
    run: int | None = None,
    *,
    compare: int | None = None,
    thresholds: Iterable[float] = (),
    dataset: Dataset | None = None,
) -> str:
    """`quality_report_html` with what it needs fetched through `client`: the dataset (unless given), its
    connection count and the server's version."""
    if dataset is None:
        dataset = client.get_dataset(dataset_id)
    connections = client.count_connections(dataset.time_range_settings)
    status = client.get_status()
    return quality_report_html(
        dataset,
        run,
        compare=compare,
        thresholds=thresholds,
        server=ServerInfo(client.base_url, status.version),
        connections=connections,
    )


@dataclass(frozen=True)
class ReportNumber:
    value: Any
    """The exact number (None where the report shows it as missing)."""
    text: str
    """What a reader sees."""


def report_numbers(text: str) -> dict[str, ReportNumber]:
    """Every number in a report by its key (`data-key`), with its exact value and shown text, so checks
    and tests can compare a report with the API. ValueError if a key occurs twice."""
    numbers: dict[str, ReportNumber] = {}
    for match in NUMBER_PATTERN.finditer(text):
        key, raw, shown = (html.unescape(part) if part is not None else None for part in match.groups())
        if key in numbers:
            raise ValueError(f"report: the number {key} occurs twice")
        numbers[key] = ReportNumber(None if raw is None else json.loads(raw), shown)
    return numbers
