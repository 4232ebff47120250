"""API objects as pandas DataFrames, for tables, charts and notebooks.

Every timestamp column is timezone-aware UTC (`UTC_DTYPE`), and an empty input gives an empty frame
with the same columns and dtypes as a full one, so callers never special-case "nothing yet".
`with_utc_labels` renames timestamp columns to say "(UTC)" for display.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from ueba_api.models import Dataset, DatasetList, Histogram, TrainingResult, enum_text, format_utc

UTC_DTYPE = pd.DatetimeTZDtype(unit="us", tz="UTC")

# How much of a comment a run label keeps: labels end up in chart legends.
LABEL_COMMENT_CHARS = 24

DATASET_COLUMNS: dict[str, Any] = {
    "id": "str",
    "comment": "str",
    "active": "bool",
    "use_for_inference_once_trained": "bool",
    "start": UTC_DTYPE,
    "end": UTC_DTYPE,
    "exclusions": "int64",
    "connections": "Int64",
    "runs": "int64",
    "latest_status": "str",
    "last_training": UTC_DTYPE,
    "created": UTC_DTYPE,
    "created_by": "str",
    "updated": UTC_DTYPE,
    "updated_by": "str",
}

HISTORY_COLUMNS: dict[str, Any] = {
    "dataset_id": "str",
    "dataset_comment": "str",
    "run": "int64",
    "run_label": "str",
    "created": UTC_DTYPE,
    "status": "str",
    "feature_config_name": "str",
    "num_connections": "Int64",
    "epochs": "int64",
    "final_training_loss": "float64",
    "final_validation_loss": "float64",
    "mean": "float64",
    "std": "float64",
    "quantile_99": "float64",
    "quantile_999": "float64",
    "error_code": "str",
    "error_details": "str",
}

LOSS_COLUMNS: dict[str, Any] = {"run": "str", "epoch": "int64", "split": "str", "loss": "float64"}

HISTOGRAM_COLUMNS: dict[str, Any] = {
    "bin_start": "float64",
    "bin_end": "float64",
    "count": "float64",
    "share": "float64",
}


def typed_frame(rows: Iterable[Mapping[str, Any]], columns: Mapping[str, Any]) -> pd.DataFrame:
    """A frame with exactly `columns` (name -> dtype), whatever `rows` holds, even nothing.

    Timestamp columns go through `pd.to_datetime(utc=True)`, so naive values are read as UTC and aware
    ones converted, whichever mix the rows carry.
    """
    frame = pd.DataFrame(list(rows), columns=list(columns))
    for name, dtype in columns.items():
        if dtype == UTC_DTYPE:
            frame[name] = pd.to_datetime(frame[name], utc=True).astype(UTC_DTYPE)
        else:
            frame[name] = frame[name].astype(dtype)
    return frame


def with_utc_labels(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy whose timezone-aware columns are named "<name> (UTC)", for tables shown to people."""
    renames = {
        name: f"{name} (UTC)"
        for name, dtype in frame.dtypes.items()
        if isinstance(dtype, pd.DatetimeTZDtype)
    }
    return frame.rename(columns=renames)


def datasets_table(
    datasets: DatasetList | Iterable[Dataset], connections: Mapping[str, int] | None = None
) -> pd.DataFrame:
    """One row per dataset (columns `DATASET_COLUMNS`).

    `connections` maps dataset id -> connection count (from `UebaClient.count_connections`); datasets
    not in it get <NA>, so the column is always there.
    """
    items = datasets.items if isinstance(datasets, DatasetList) else datasets
    counts = connections or {}
    rows = []
    for dataset in items:
        time_range = dataset.time_range_settings
        latest = dataset.latest_result
        rows.append(
            {
                "id": dataset.id,
                "comment": dataset.comment,
                "active": dataset.is_active,
                "use_for_inference_once_trained": dataset.use_for_inference_once_trained,
                "start": time_range.start,
                "end": time_range.end,
                "exclusions": len(time_range.exclude),
                "connections": counts.get(dataset.id or ""),
                "runs": len(dataset.training_results),
                "latest_status": enum_text(latest.status) if latest else None,
                "last_training": dataset.last_training,
                "created": dataset.created,
                "created_by": dataset.created_by,
                "updated": dataset.updated,
                "updated_by": dataset.updated_by,
            }
        )
    return typed_frame(rows, DATASET_COLUMNS)


def with_connections(table: pd.DataFrame, connections: Mapping[str, int]) -> pd.DataFrame:
    """A copy of a `datasets_table` whose connection counts are those of `connections` (dataset id ->
    count; <NA> for the others): a table built once can take the counts known at each page run."""
    frame = table.copy()
    frame["connections"] = frame["id"].map(connections).astype(DATASET_COLUMNS["connections"])
    return frame


@dataclass(frozen=True)
class Run:
    """One training of one dataset, with a label that is unique among the runs it was listed with."""

    label: str
    dataset_id: str | None
    dataset_comment: str | None
    number: int
    """1-based position in the dataset's training history (oldest first)."""
    result: TrainingResult


def _dataset_name(dataset: Dataset) -> str:
    first_line = dataset.comment_title
    if first_line:
        if len(first_line) > LABEL_COMMENT_CHARS:
            return first_line[: LABEL_COMMENT_CHARS - 1].rstrip() + "…"
        return first_line
    return (dataset.id or "dataset")[:8]


def training_runs(datasets: Dataset | DatasetList | Iterable[Dataset]) -> list[Run]:
    """Every training of the given datasets, labelled "<comment or id[:8]> #<n>".

    Datasets whose names would read the same get their short id added, so labels stay unique (they
    are the colour key of the comparison charts). `training_history` of the same datasets has one row
    per run, in the same order: a row selection there picks runs here.
    """
    if isinstance(datasets, Dataset):
        items = [datasets]
    elif isinstance(datasets, DatasetList):
        items = datasets.items
    else:
        items = list(datasets)
    names = [_dataset_name(dataset) for dataset in items]
    runs = []
    for dataset, name in zip(items, names, strict=True):
        if names.count(name) > 1:
            name = f"{name} ({(dataset.id or '?')[:8]})"
        runs.extend(
            Run(f"{name} #{number}", dataset.id, dataset.comment, number, result)
            for number, result in enumerate(dataset.training_results, start=1)
        )
    return runs


def _last(values: Sequence[float]) -> float | None:
    return values[-1] if values else None


def epochs_done(result: TrainingResult) -> int:
    """The epochs a run has losses for: the longer split (a run still training may have one more value in
    one of them). Every place that says how far a run got counts with this, so they agree."""
    return max(len(result.training_dataset_loss), len(result.validation_dataset_loss))


def training_history(datasets: Dataset | DatasetList | Iterable[Dataset]) -> pd.DataFrame:
    """One row per training run (columns `HISTORY_COLUMNS`), oldest first within each dataset."""
    return runs_history(training_runs(datasets))


def runs_history(runs: Iterable[Run]) -> pd.DataFrame:
    """One row per run given (columns `HISTORY_COLUMNS`), in their order."""
    rows = []
    for run in runs:
        result = run.result
        rows.append(
            {
                "dataset_id": run.dataset_id,
                "dataset_comment": run.dataset_comment,
                "run": run.number,
                "run_label": run.label,
                "created": result.created,
                "status": enum_text(result.status),
                "feature_config_name": result.feature_config_name,
                "num_connections": result.num_connections,
                "epochs": epochs_done(result),
                "final_training_loss": _last(result.training_dataset_loss),
                "final_validation_loss": _last(result.validation_dataset_loss),
                "mean": result.mean,
                "std": result.std,
                "quantile_99": result.quantile_99,
                "quantile_999": result.quantile_999,
                "error_code": result.error_code,
                "error_details": result.error_details,
            }
        )
    return typed_frame(rows, HISTORY_COLUMNS)


RunsLike = (
    TrainingResult
    | Mapping[str, TrainingResult]
    | Iterable[Run | tuple[str, TrainingResult]]
)
"""What the comparison helpers take: one result, {label: result}, runs, or (label, result) pairs."""


def labelled_results(runs: RunsLike) -> list[tuple[str, TrainingResult]]:
    """`runs` as (label, result) pairs; a lone result is labelled "run"."""
    if isinstance(runs, TrainingResult):
        return [("run", runs)]
    if isinstance(runs, Mapping):
        return list(runs.items())
    return [(run.label, run.result) if isinstance(run, Run) else (run[0], run[1]) for run in runs]


def loss_frame(runs: RunsLike) -> pd.DataFrame:
    """Loss per epoch in long format: run, epoch (1-based), split ("training"/"validation"), loss.

    The splits are read independently: a run still training may have one more value in one of them.
    """
    rows = [
        {"run": label, "epoch": epoch, "split": split, "loss": loss}
        for label, result in labelled_results(runs)
        for split, losses in (
            ("training", result.training_dataset_loss),
            ("validation", result.validation_dataset_loss),
        )
        for epoch, loss in enumerate(losses, start=1)
    ]
    return typed_frame(rows, LOSS_COLUMNS)


def histogram_frame(source: TrainingResult | Histogram | None) -> pd.DataFrame:
    """The validation-loss histogram as bins: bin_start, bin_end, count, share (count / total).

    A result without a histogram gives an empty frame. A histogram whose edges do not fit its counts
    raises ValueError naming the field. When every count is zero the shares are zero too.
    """
    histogram = source.validation_dataset_histogram if isinstance(source, TrainingResult) else source
    if histogram is None or (not histogram.hist and not histogram.bin_edges):
        return typed_frame([], HISTOGRAM_COLUMNS)
    _check_histogram(histogram)
    counts = pd.Series(histogram.hist, dtype="float64")
    total = counts.sum()
    frame = pd.DataFrame(
        {
            "bin_start": histogram.bin_edges[:-1],
            "bin_end": histogram.bin_edges[1:],
            "count": counts,
            "share": counts / total if total else 0.0,
        }
    )
    return frame.astype(HISTOGRAM_COLUMNS)


def _check_histogram(histogram: Histogram) -> None:
    field = "validation_dataset_histogram"
    counts = np.asarray(histogram.hist, dtype="float64")
    edges = np.asarray(histogram.bin_edges, dtype="float64")
    if len(edges) != len(counts) + 1:
        raise ValueError(
            f"{field}.bin_edges: expected {len(counts) + 1} edges for {len(counts)} bins, got {len(edges)}"
        )
    if not np.isfinite(edges).all() or np.any(np.diff(edges) <= 0):
        raise ValueError(f"{field}.bin_edges: edges must be finite numbers that increase strictly")
    if not np.isfinite(counts).all() or np.any(counts < 0):
        raise ValueError(f"{field}.hist: counts must be finite numbers, none negative")


def json_ready(value: Any) -> Any:
    """JSON-ready: datetimes as RFC 3339 `Z`, NaN and infinities as null, containers walked."""
    if isinstance(value, pd.Timestamp):
        return format_utc(value.to_pydatetime())
    if isinstance(value, datetime):
        return format_utc(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(key): json_ready(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(item) for item in value]
    return value


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """A frame's rows as JSON-ready dicts, every number at full precision (pandas' `to_json` keeps only
    10 significant digits), timestamps as RFC 3339 `Z`, missing values as null."""
    return [
        {name: None if _missing(value) else json_ready(value.item() if hasattr(value, "item") else value)
         for name, value in row.items()}
        for row in frame.astype(object).to_dict("records")
    ]


def _missing(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False
