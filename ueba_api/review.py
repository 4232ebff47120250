"""What the training-review and comparison pages compute, without Streamlit (usable in Jupyter too).

Choosing the run to review, labelling runs for pickers, the statistics of runs side by side, the
history as CSV / JSON downloads, and the sentence that announces a finished training.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import pandas as pd
from pandas.io.formats.style import Styler

from ueba_api.frames import Run, with_utc_labels
from ueba_api.models import Dataset, TrainingResult, TrainingStatus

# The numeric columns of `frames.training_history` compared side by side, with their row labels.
COMPARED_STATISTICS = {
    "num_connections": "Connections",
    "epochs": "Epochs",
    "final_training_loss": "Final training loss",
    "final_validation_loss": "Final validation loss",
    "mean": "Validation loss mean",
    "std": "Validation loss std",
    "quantile_99": "Validation loss q99",
    "quantile_999": "Validation loss q999",
}

# The compared statistics that count things: whole numbers, shown with thousands separators.
COUNT_STATISTICS = ("Connections", "Epochs")
# How a table shows a value the API did not give.
MISSING = "—"

# The history columns a person reads (the dataset's id and name are the page's context).
HISTORY_TABLE_COLUMNS = [
    "run",
    "created",
    "status",
    "feature_config_name",
    "num_connections",
    "epochs",
    "final_training_loss",
    "final_validation_loss",
    "mean",
    "std",
    "quantile_99",
    "quantile_999",
    "error_code",
    "error_details",
]


def dataset_choice_label(dataset: Dataset) -> str:
    """How a dataset reads in a picker: the first line of its comment, then its id."""
    lines = (dataset.comment or "").strip().splitlines()
    return f"{lines[0] if lines else 'No comment'} · {dataset.id}"


def status_text(result: TrainingResult) -> str:
    return getattr(result.status, "value", result.status)


def run_choice_label(run: Run) -> str:
    """How a run reads in a picker: "<label> · SUCCESS · 2024-04-02 08:15 UTC"."""
    created = f" · {run.result.created:%Y-%m-%d %H:%M} UTC" if run.result.created else ""
    return f"{run.label} · {status_text(run.result)}{created}"


def default_review_index(results: Sequence[TrainingResult]) -> int | None:
    """The run to review first: the latest successful one, else the latest; None without runs."""
    for index in range(len(results) - 1, -1, -1):
        if results[index].status == TrainingStatus.SUCCESS:
            return index
    return len(results) - 1 if results else None


def default_pair(results: Sequence[TrainingResult]) -> tuple[int, int]:
    """The two runs to compare first (indices, older one first): the two latest successful runs, by
    creation time; with fewer than two successes, the last two runs. Needs at least two runs."""
    if len(results) < 2:
        raise ValueError(f"comparing needs at least two runs, got {len(results)}")
    succeeded = [index for index, result in enumerate(results) if result.status == TrainingStatus.SUCCESS]
    if len(succeeded) < 2:
        return len(results) - 2, len(results) - 1
    oldest = datetime.min.replace(tzinfo=UTC)
    first, second = sorted(succeeded, key=lambda index: (results[index].created or oldest, index))[-2:]
    return first, second


def is_training(dataset: Dataset) -> bool:
    latest = dataset.latest_result
    return latest is not None and latest.status == TrainingStatus.TRAINING


def finished_message(label: str, result: TrainingResult) -> str:
    """The notice for a training that ended: its outcome, and on failure its error."""
    if result.status == TrainingStatus.SUCCESS:
        epochs = len(result.validation_dataset_loss)
        return f"Training {label} succeeded after {epochs} epochs."
    if result.status == TrainingStatus.FAILURE:
        cause = ": ".join(part for part in (result.error_code, result.error_details) if part)
        return f"Training {label} failed" + (f" ({cause})." if cause else ".")
    return f"Training {label} ended with status {status_text(result)}."


def history_table(history: pd.DataFrame) -> pd.DataFrame:
    """A `frames.training_history` with the columns people read, timestamps labelled "(UTC)"."""
    return with_utc_labels(history[HISTORY_TABLE_COLUMNS].reset_index(drop=True))


def history_csv(table: pd.DataFrame) -> bytes:
    return table.to_csv(index=False).encode()


def history_json(table: pd.DataFrame) -> bytes:
    """Records, timestamps as ISO 8601 UTC (`...Z`), missing values as null."""
    return table.to_json(orient="records", date_format="iso", indent=2).encode()


def side_by_side(history: pd.DataFrame, names: Sequence[str] = ("A", "B")) -> pd.DataFrame:
    """The numeric statistics of two runs (two `training_history` rows) as columns, with their difference.

    One row per statistic (`COMPARED_STATISTICS`); columns "<name>: <run label>" for each run, then
    "B − A" and "B vs A (%)" (relative change in percent; empty where A is 0 or missing). Values stay
    numbers, as the API gave them; `styled_side_by_side` formats them for reading.
    """
    if len(history) != len(names):
        raise ValueError(f"expected {len(names)} runs to compare, got {len(history)}")
    values = history[list(COMPARED_STATISTICS)].astype("float64").to_numpy().T
    columns = [f"{name}: {label}" for name, label in zip(names, history["run_label"], strict=True)]
    frame = pd.DataFrame(values, columns=columns, index=list(COMPARED_STATISTICS.values()))
    first, second = frame[columns[0]], frame[columns[-1]]
    frame[difference_column(names)] = second - first
    frame[relative_column(names)] = (second / first.where(first != 0) - 1) * 100
    frame.index.name = "statistic"
    return frame


def difference_column(names: Sequence[str] = ("A", "B")) -> str:
    return f"{names[-1]} − {names[0]}"


def relative_column(names: Sequence[str] = ("A", "B")) -> str:
    return f"{names[-1]} vs {names[0]} (%)"


def styled_side_by_side(table: pd.DataFrame, names: Sequence[str] = ("A", "B")) -> Styler:
    """A `side_by_side` table formatted for reading, its numbers untouched beneath (Streamlit and Jupyter
    show the formatted text; sorting and copying still see the numbers).

    Counts get thousands separators, losses five significant digits, the relative change two decimals;
    differences carry a sign unless they are 0; missing values read as an em dash. Formats go per row,
    since each row is one statistic and a column mixes counts with losses.
    """
    difference, relative = difference_column(names), relative_column(names)
    values = [column for column in table.columns if column not in (difference, relative)]
    counts = [name for name in COUNT_STATISTICS if name in table.index]
    losses = [name for name in table.index if name not in COUNT_STATISTICS]
    styler = table.style
    # "#" keeps trailing zeros, so 0.0100004 reads 0.010000 rather than a rounder-looking 0.01.
    for rows, spec in ((counts, ",.0f"), (losses, "#.5g")):
        styler = styler.format(_formatter(spec), subset=(rows, values))
        styler = styler.format(_formatter(spec, signed=True), subset=(rows, [difference]))
    return styler.format(_formatter(",.2f", signed=True), subset=[relative])


def _formatter(spec: str, *, signed: bool = False) -> Callable[[float], str]:
    def format_number(value: float) -> str:
        if pd.isna(value):
            return MISSING
        if signed:
            # "+0" or "0.0000" would suggest a change, or a rounding, where there is none.
            return format(value, f"+{spec}") if value != 0 else "0"
        return format(value, spec)

    return format_number
