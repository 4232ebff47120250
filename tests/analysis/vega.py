"""Reading a Vega-Lite spec (`chart.to_dict()`) back: layers and their inline data."""

from __future__ import annotations

import json
from typing import Any

import altair as alt


def spec_of(chart: alt.TopLevelMixin) -> dict[str, Any]:
    spec = chart.to_dict()
    assert '"url"' not in json.dumps(spec), "chart data must be inline, not fetched"
    return spec


def layers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return spec.get("layer", [spec])


def data_of(spec: dict[str, Any], layer: dict[str, Any]) -> list[dict[str, Any]]:
    """The records a layer draws (its own data, else the chart's), from the spec's inline datasets."""
    data = layer.get("data", spec.get("data"))
    if "values" in data:
        return data["values"]
    return spec["datasets"][data["name"]]


def mark_of(layer: dict[str, Any]) -> dict[str, Any]:
    mark = layer["mark"]
    return mark if isinstance(mark, dict) else {"type": mark}
