"""What the training-review and comparison pages compute, without Streamlit (usable in Jupyter too).

Choosing the dataset and the run to review, labelling runs for pickers, following a training until it
ends, reading a loss threshold against the validation histogram, the statistics of runs side by side,
the history as CSV / JSON downloads, and the sentence that announces a finished training.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import numpy as np
import pandas as pd
from pandas.io.formats.style import Styler

from ueba_api import quality
from ueba_api.frames import Run, epochs_done, records, training_runs, with_utc_labels
from ueba_api.models import (
    Dataset,
    Histogram,
    InternalStatus,
    TrainingResult,
    TrainingStatus,
    enum_text,
    format_utc,
)

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

# The history columns a person reads (the dataset's id and name are the page's context), the statistics an
# analyst reads first (q99, q999) right after which run it is, so no table width hides them.
HISTORY_TABLE_COLUMNS = [
    "run",
    "created",
    "status",
    "quantile_99",
    "quantile_999",
    "mean",
    "std",
    "final_validation_loss",
    "final_training_loss",
    "epochs",
    "num_connections",
    "feature_config_name",
    "error_code",
    "error_details",
]


def dataset_choice_label(dataset: Dataset) -> str:
    """How a dataset reads in a picker: the first line of its comment, then its id."""
    return f"{dataset.comment_title or 'No comment'} · {dataset.id}"


def default_dataset_id(datasets: Sequence[Dataset]) -> str | None:
    """The dataset a review page opens on when the URL names none: the active one, else the one trained
    most recently, else the one created most recently (the last listed when the server gives no times).
    None without datasets."""
    candidates = [dataset for dataset in datasets if dataset.id]
    active = next((dataset for dataset in candidates if dataset.is_active), None)
    if active is not None:
        return active.id
    trained = [(latest, index) for index, dataset in enumerate(candidates)
               if (latest := _latest_training(dataset)) is not None]
    if trained:
        return candidates[max(trained)[1]].id
    oldest = datetime.min.replace(tzinfo=UTC)
    # The list index breaks ties, so among datasets without a creation time the last listed wins.
    created = [(dataset.created or oldest, index) for index, dataset in enumerate(candidates)]
    return candidates[max(created)[1]].id if created else None


def _latest_training(dataset: Dataset) -> datetime | None:
    """When the dataset was last trained: its newest run, or `last_training` for a server that lists none."""
    times = [result.created for result in dataset.training_results if result.created is not None]
    if dataset.last_training is not None:
        times.append(dataset.last_training)
    return max(times, default=None)


def status_text(result: TrainingResult) -> str:
    return enum_text(result.status)


def utc_minutes(value: datetime | None) -> str:
    """A time as the review pages show it: to the minute, labelled UTC; MISSING when there is none."""
    return f"{value:%Y-%m-%d %H:%M} UTC" if value else MISSING


def run_choice_label(run: Run, *, created: bool = True) -> str:
    """How a run reads in a picker: "<label> · SUCCESS · 2024-04-02 08:15 UTC"; without the time where a
    picker is narrow and the time is shown beside it."""
    created = f" · {utc_minutes(run.result.created)}" if created and run.result.created else ""
    return f"{run.label} · {status_text(run.result)}{created}"


def side_labelled(runs: Sequence[Run], names: Sequence[str] = ("A", "B")) -> list[Run]:
    """The runs relabelled "A: <label>", "B: <label>" for charts, as in `side_by_side`'s columns.

    The side comes first because a chart legend shortens long labels from the end: two runs of one
    dataset ("Demo: the last 90 days… #1" and "… #2") would otherwise read the same there.
    """
    if len(runs) != len(names):
        raise ValueError(f"expected {len(names)} runs, got {len(runs)}")
    return [replace(run, label=f"{name}: {run.label}") for name, run in zip(names, runs, strict=True)]


def numbered(runs: Sequence[Run]) -> list[Run]:
    """Runs of one dataset relabelled "#<n>" for charts on a page about that dataset: short enough that a
    legend shows them whole, where the full label's end (the number) would be cut off."""
    if len({run.dataset_id for run in runs}) > 1:
        raise ValueError("numbered labels are for the runs of one dataset")
    return [replace(run, label=f"#{run.number}") for run in runs]


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


@dataclass(frozen=True)
class FollowUp:
    """What `follow_training` found: the watch list to keep, the runs that ended, the runs to poll."""

    watched: dict[str, int]
    """dataset id -> the 1-based number of its run last seen TRAINING (or just started)."""
    ended: list[Run] = field(default_factory=list)
    """Watched runs that are no longer TRAINING: announce each once."""
    training: list[Run] = field(default_factory=list)
    """Runs TRAINING now: poll until they end."""


def follow_training(watched: Mapping[str, int], datasets: Dataset | Iterable[Dataset], *,
                    complete: bool = False) -> FollowUp:
    """Compares the runs a page watched with the datasets as the server lists them now.

    `watched` maps a dataset id to the number of the run seen TRAINING (or just started: it counts even
    if it ends before a page sees it training). A watched run that is no longer TRAINING has ended; a
    watched number past the end of the history means the history was emptied (the dataset's range was
    changed), so there is nothing to announce. Every run TRAINING now is watched from here on.
    `complete`: `datasets` are all there are, so a watched dataset missing from them was deleted and is
    forgotten; otherwise watches of datasets not given are kept as they are.
    """
    items = [datasets] if isinstance(datasets, Dataset) else list(datasets)
    given = {dataset.id for dataset in items}
    kept = {dataset_id: number for dataset_id, number in watched.items()
            if dataset_id in given or not complete}
    ended, training = [], []
    for dataset in items:
        number = kept.pop(dataset.id, None)
        if number is None and not is_training(dataset):
            continue  # most of a listing: its runs are not built (20,000 of them at 1,000 datasets)
        runs = training_runs(dataset)
        if number is not None and number <= len(runs):
            watched_run = runs[number - 1]
            if watched_run.result.status == TrainingStatus.TRAINING:
                kept[dataset.id] = number
            else:
                ended.append(watched_run)
        if is_training(dataset):
            kept[dataset.id] = len(runs)
            training.append(runs[-1])
    return FollowUp(kept, ended, training)


# What a listing of datasets keeps of each run: enough to name, pick and badge it, not its series.
_SERIES_LEFT_OUT = {"training_dataset_loss": [], "validation_dataset_loss": [],
                    "validation_dataset_histogram": None, "training_log": None}


def listed(datasets: Iterable[Dataset]) -> list[Dataset]:
    """The datasets without their runs' losses per epoch, histograms and logs: what a page keeps of a
    listing to name, pick and badge datasets and runs. The API always lists every run's losses, which
    at 1,000 datasets with long histories are hundreds of MB; whatever shows a run's numbers fetches
    its dataset (`UebaClient.get_dataset`), so an epoch count read from a listed run (0) is never shown.
    """
    return [
        dataset.model_copy(update={"training_results": [
            result.model_copy(update=_SERIES_LEFT_OUT) for result in dataset.training_results]})
        for dataset in datasets
    ]


def listed_runs(datasets: Iterable[Dataset]) -> frozenset[tuple[datetime | None, str]]:
    """Each run of a listing as (created, status): what `finished_runs_unknown` compares with. Worth
    keeping beside a cached listing: at 1,000 datasets x 20 runs it takes longer than the rest of a check."""
    return frozenset((result.created, status_text(result)) for dataset in datasets
                     for result in dataset.training_results)


def finished_runs_unknown(
    datasets: Iterable[Dataset] | frozenset[tuple[datetime | None, str]], internal: InternalStatus | None
) -> frozenset[str]:
    """The server's ids of the finished runs `/status/internal` names (each dataset's latest run) that a
    listing does not hold with that status: not empty once a training has ended since the listing was
    made, whoever started it. Runs still TRAINING are not asked about (a page fetches its own dataset's
    runs). Without that endpoint (newer PrivX) there is nothing to compare: empty. `datasets` may be the
    listing or its `listed_runs`."""
    if internal is None:
        return frozenset()
    runs = datasets if isinstance(datasets, frozenset) else listed_runs(datasets)
    return frozenset(instance.id or "" for instance in internal.instances
                     if instance.status != TrainingStatus.TRAINING
                     and (instance.created, instance.status) not in runs)


def server_run_id(internal: InternalStatus | None, result: TrainingResult) -> str | None:
    """The server's own id of `result`, where `/status/internal` lists it (it lists each dataset's latest
    run, matched here by creation time); None when it is not listed or the match is not unique.

    Server logs name runs by this id, while the pages number a dataset's runs #1, #2, ...: showing both
    lets a reader find a run in the server's log."""
    if internal is None or result.created is None:
        return None
    matches = [instance.id for instance in internal.instances
               if instance.id and instance.created == result.created]
    return matches[0] if len(matches) == 1 else None


RunsSnapshot = list[tuple[str | None, int, str | None]]


def runs_snapshot(datasets: Iterable[Dataset]) -> RunsSnapshot:
    """Each dataset's id, number of runs and latest status, in list order: two snapshots differ when a
    training started or ended, or a dataset came or went (what a page polling the list looks for)."""
    return [(dataset.id, len(dataset.training_results),
             status_text(dataset.latest_result) if dataset.latest_result else None)
            for dataset in datasets]


def finished_message(label: str, result: TrainingResult) -> str:
    """The notice for a training that ended: its outcome, and on failure its error."""
    if result.status == TrainingStatus.SUCCESS:
        return f"Training {label} succeeded after {epochs_done(result)} epochs."
    if result.status == TrainingStatus.FAILURE:
        cause = result.failure_cause
        return f"Training {label} failed" + (f" ({cause})." if cause else ".")
    return f"Training {label} ended with status {status_text(result)}."


def history_table(history: pd.DataFrame) -> pd.DataFrame:
    """A `frames.training_history` with the columns people read, timestamps labelled "(UTC)"."""
    return with_utc_labels(history[HISTORY_TABLE_COLUMNS].reset_index(drop=True))


def history_csv(table: pd.DataFrame) -> bytes:
    """The table as CSV; timestamps as RFC 3339 UTC with `Z` (as on the wire), missing values empty."""
    return _with_utc_text(table).to_csv(index=False).encode()


def history_json(table: pd.DataFrame) -> bytes:
    """Records, every number as the API gave it (`frames.records`); timestamps as RFC 3339 UTC with `Z` (as
    on the wire), missing values as null."""
    return json.dumps(records(_with_utc_text(table)), indent=2, ensure_ascii=False).encode()


def _with_utc_text(table: pd.DataFrame) -> pd.DataFrame:
    """Timestamp columns as `models.format_utc` text: pandas would write `2024-04-01 10:00:00+00:00` to a
    CSV, which some readers take for local time, and pads JSON to milliseconds."""
    table = table.copy()
    for name in table.columns:
        if isinstance(table[name].dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(table[name]):
            table[name] = [None if pd.isna(value) else format_utc(value.to_pydatetime())
                           for value in table[name]]
    return table


@dataclass(frozen=True)
class ThresholdReading:
    """A loss threshold read against a run's validation histogram, with how precisely the histogram
    allows: within a bin it says nothing of where the connections lie, so the reading is interpolated
    there, and the truth lies anywhere within the bin."""

    threshold: float
    share: float
    """The share of validation connections whose loss lies above the threshold (0 to 1)."""
    validation: float
    """How many validation connections the histogram holds (the sum of its counts)."""
    bins: int
    """The bins of the histogram read."""
    share_precision: float
    """± on `share`: from the reading to the farther edge of the bin the threshold lies in, in share (half
    the bin's share at its middle; 0 outside the histogram)."""
    threshold_precision: float
    """± on `threshold`: the same in loss (half the bin's width at its middle)."""

    @property
    def flagged(self) -> float:
        """About how many validation connections lie above the threshold."""
        return self.share * self.validation

    def sentence(self) -> str:
        decimals = _decimals_for(self.share_precision * 100)
        share, threshold = f"{self.share:.{decimals}%}", f"{self.threshold:.5g}"
        return (f"**{share}** ± {self.share_precision:.{decimals}%} of the validation connections have a "
                f"loss above **{threshold}** ± {_one_digit(self.threshold_precision)} "
                f"(about {self.flagged:,.0f} of {self.validation:,.0f}).")

    def precision_note(self) -> str:
        return (f"Read from the server's {self.bins:,}-bin histogram, whatever the chart shows; between a "
                "bin's edges it is interpolated, so the ± reaches the bin's farther edge (half the bin's "
                "share and width when the threshold is at its middle).")


def _one_digit(value: float) -> str:
    """A precision to one significant digit, never in exponent form: 0.00002, not 2e-05."""
    return np.format_float_positional(value, precision=1, unique=False, fractional=False, trim="-")


def _decimals_for(percent: float) -> int:
    """Decimals of a percentage that show a ± of `percent` points: at least 2, at most 4."""
    if percent <= 0:
        return 2
    return min(4, max(2, math.ceil(-math.log10(percent))))


# The share of validation connections a threshold starts at when the run has no q99: 1%, q99's complement.
DEFAULT_SHARE_ABOVE = 0.01

HistogramSource = Histogram | TrainingResult


def default_threshold(result: TrainingResult, histogram: HistogramSource | None = None) -> float:
    """Where the threshold explorer starts: the run's q99, else the loss 1% of the histogram lies above
    (`histogram`, or the result's own)."""
    if result.quantile_99 is not None:
        return result.quantile_99
    return quality.threshold_for_share(histogram or result, DEFAULT_SHARE_ABOVE)


def reading_at_threshold(histogram: HistogramSource, threshold: float) -> ThresholdReading:
    """The share of validation connections above a loss threshold."""
    source = _histogram_of(histogram)
    share = quality.share_above(histogram, threshold)
    around = quality.bin_at(histogram, threshold)
    if around is None or threshold in (around.start, around.end):
        # Outside the histogram, or on an edge, where its cumulative count is exact.
        return ThresholdReading(threshold, share, float(sum(source)), len(source), 0.0, 0.0)
    # Within the bin the histogram says nothing of where its connections lie: the truth is anywhere
    # between the bin's edges, so the ± reaches the farther edge from the interpolated reading (half the
    # bin at its middle).
    above_start = quality.share_above(histogram, around.start)
    above_end = quality.share_above(histogram, around.end)
    return ThresholdReading(
        threshold, share, float(sum(source)), len(source),
        share_precision=max(above_start - share, share - above_end),
        threshold_precision=max(threshold - around.start, around.end - threshold),
    )


def reading_at_share(histogram: HistogramSource, share: float) -> ThresholdReading:
    """The loss threshold that `share` (0 to 1) of the validation connections lie above."""
    source = _histogram_of(histogram)
    threshold = quality.threshold_for_share(histogram, share)
    # The crossing happens in the bin that holds the connections making up the share: the one ending at
    # the threshold when it lands on an edge (bin_at would give the upper one there).
    around = quality.bin_at(histogram, float(np.nextafter(threshold, -np.inf)))
    if around is None:
        return ThresholdReading(threshold, share, float(sum(source)), len(source), 0.0, 0.0)
    return ThresholdReading(
        threshold, share, float(sum(source)), len(source),
        share_precision=0.0,  # the share is what was asked for
        threshold_precision=max(threshold - around.start, around.end - threshold),
    )


def _histogram_of(histogram: HistogramSource) -> list[float]:
    source = histogram.validation_dataset_histogram if isinstance(histogram, TrainingResult) else histogram
    return list(source.hist) if source is not None else []


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
