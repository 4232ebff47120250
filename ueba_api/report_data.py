"""The numbers of the model-quality report, without any HTML: a dataset's length and connections per day,
and the threshold table (the share of validation connections above a loss, and the alerts a day it means).

The anomaly settings' 0..1 `threshold` has no documented mapping to a loss, so nothing here maps it: the
table is about losses only.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from ueba_api.models import Period, TimeRange, TrainingResult, as_utc
from ueba_api.periods import merge_overlapping
from ueba_api.quality import share_above

DAY = timedelta(days=1)


@dataclass(frozen=True)
class Exclusion:
    start: datetime
    end: datetime

    @property
    def days(self) -> float:
        return (self.end - self.start) / DAY


@dataclass(frozen=True)
class DatasetSpan:
    """How long a dataset's range is, how much of it is excluded, and its connections per included day."""

    start: datetime | None
    end: datetime | None
    exclusions: list[Exclusion]
    range_days: float | None
    """Days from start to end; None for an open range."""
    excluded_days: float | None
    """Days of the range the exclusions cover (overlaps counted once, parts outside the range not at all)."""
    connections: int | None
    """The API's connection count for the dataset's time range (exclusions applied)."""

    @property
    def included_days(self) -> float | None:
        if self.range_days is None or self.excluded_days is None:
            return None
        return self.range_days - self.excluded_days

    @property
    def connections_per_day(self) -> float | None:
        days = self.included_days
        if self.connections is None or not days or days <= 0:
            return None
        return self.connections / days


def dataset_span(time_range: TimeRange, connections: int | None) -> DatasetSpan:
    """The span of a dataset's `time_range_settings`, with the connection count the API gave for it."""
    start = as_utc(time_range.start) if time_range.start else None
    end = as_utc(time_range.end) if time_range.end else None
    exclusions = [Exclusion(as_utc(period.start), as_utc(period.end)) for period in time_range.exclude]
    if start is None or end is None:
        return DatasetSpan(start, end, exclusions, None, None, connections)
    usable = [period for period in time_range.exclude if period.start < period.end]
    clipped = [
        Period(start=max(period.start, start), end=min(period.end, end))
        for period in merge_overlapping(usable)
        if period.end > start and period.start < end
    ]
    excluded = sum(((period.end - period.start) / DAY for period in clipped), 0.0)
    return DatasetSpan(start, end, exclusions, (end - start) / DAY, excluded, connections)


@dataclass(frozen=True)
class ThresholdRow:
    name: str
    loss: float
    share: float
    """Share (0..1) of validation connections above `loss`, read from the histogram."""
    validation_above: float
    """About how many validation connections lie above `loss`."""
    alerts_per_day: float | None
    """`share` × the dataset's connections per day: the alerts a day that threshold would mean."""


def statistic_thresholds(result: TrainingResult) -> list[tuple[str, float]]:
    """The run's own loss statistics a threshold is usually set at: q99, q999 and mean + 3·std."""
    named = [("q99", result.quantile_99), ("q999", result.quantile_999)]
    if result.mean is not None and result.std is not None:
        named.append(("mean + 3·std", result.mean + 3 * result.std))
    return [(name, value) for name, value in named if value is not None and math.isfinite(value)]


def validation_size(result: TrainingResult) -> float:
    """How many validation connections the run's histogram holds (the sum of its counts)."""
    histogram = result.validation_dataset_histogram
    return float(sum(histogram.hist)) if histogram is not None else 0.0


def threshold_table(
    result: TrainingResult, thresholds: Iterable[float] = (), *, connections_per_day: float | None = None
) -> list[ThresholdRow]:
    """One row per threshold: the run's q99, q999 and mean + 3·std, then each loss in `thresholds`.

    Empty when the run has no histogram to read shares from.
    """
    size = validation_size(result)
    if size <= 0:
        return []
    named = statistic_thresholds(result) + [(f"threshold {loss:g}", float(loss)) for loss in thresholds]
    rows = []
    for name, loss in named:
        share = share_above(result, loss)
        per_day = share * connections_per_day if connections_per_day is not None else None
        rows.append(ThresholdRow(name, loss, share, share * size, per_day))
    return rows
