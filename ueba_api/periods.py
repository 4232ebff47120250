"""Checks for the dataset editor: the training range and the periods excluded from it.

Periods are half-open, `[start, end)`, as in the API. Naive datetimes are taken to be UTC. A missing
range start or end means unbounded on that side, as in `TimeRange`.

`PeriodProblem.row` is the 0-based position of the period (in the list, or in the frame's row order
whatever its index); messages count periods from 1, as people do.

Touching periods, `[a, b)` and `[b, c)`, do not overlap (no connection lies in both), so they are no
problem; `merge_overlapping` still joins them, because `[a, c)` excludes the same connections with
one period fewer.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

import numpy as np
import pandas as pd

from ueba_api.frames import UTC_DTYPE, typed_frame
from ueba_api.models import Period, as_utc

PERIOD_COLUMNS = {"start": UTC_DTYPE, "end": UTC_DTYPE}


class ProblemKind(StrEnum):
    MISSING = "missing"
    UNREADABLE = "unreadable"
    ORDER = "order"
    OUTSIDE = "outside"
    PARTLY_OUTSIDE = "partly_outside"
    OVERLAP = "overlap"


# Problems that make a row no usable period (the dataset cannot be saved with it); the others (outside
# the range, overlaps) are warnings: the server takes such periods, they only exclude less than they seem.
BLOCKING_KINDS = frozenset({ProblemKind.MISSING, ProblemKind.UNREADABLE, ProblemKind.ORDER})


@dataclass(frozen=True)
class PeriodProblem:
    row: int | None
    """0-based position of the period; None for the range itself."""
    field: str | None
    """"start", "end", or None when the period as a whole is at fault."""
    message: str
    kind: ProblemKind

    def __str__(self) -> str:
        return self.message

    @property
    def blocking(self) -> bool:
        """Whether the problem stops a save (see `BLOCKING_KINDS`); the others are warnings."""
        return self.kind in BLOCKING_KINDS


def blocking_problems(problems: Iterable[PeriodProblem]) -> list[PeriodProblem]:
    """The problems that stop a save, in their order."""
    return [problem for problem in problems if problem.blocking]


def can_merge(problems: Iterable[PeriodProblem]) -> bool:
    """Whether "merge overlapping periods" has something to do and loses nothing.

    `problems` are `check_periods`' for the editor's rows. A merge rebuilds the rows from the complete,
    ordered periods alone, so while a row is still being typed (no end yet), unreadable or reversed, it
    would silently vanish: then there is no merge until that row is fixed or deleted.
    """
    problems = list(problems)
    overlapping = any(problem.kind == ProblemKind.OVERLAP for problem in problems)
    return overlapping and not blocking_problems(problems)


def usable_periods(periods: Iterable[Period]) -> list[Period]:
    """The periods that end after they start: what counting and shading can use while other rows are
    still being fixed."""
    return [period for period in periods if _utc(period.start) < _utc(period.end)]


Bound = pd.Timestamp | None


def _utc(value: datetime | None) -> Bound:
    if value is None or pd.isna(value):
        return None
    return pd.Timestamp(as_utc(value))


def describe_time(value: datetime) -> str:
    """'2024-03-01 12:30 UTC' (seconds only when there are any)."""
    stamp = _utc(value)
    pattern = "%Y-%m-%d %H:%M:%S" if stamp.second or stamp.microsecond else "%Y-%m-%d %H:%M"
    return f"{stamp.strftime(pattern)} UTC"


def _span(start: datetime, end: datetime) -> str:
    return f"{describe_time(start)} – {describe_time(end)}"


def check_range(start: datetime | None, end: datetime | None) -> list[PeriodProblem]:
    """The training range must end after it starts (either side may be open: None)."""
    start, end = _utc(start), _utc(end)
    if start is not None and end is not None and start >= end:
        message = f"The range must end after it starts: it starts {describe_time(start)}"
        message += f" and ends {describe_time(end)}."
        return [PeriodProblem(None, "end", message, ProblemKind.ORDER)]
    return []


def _column(frame: pd.DataFrame, name: str) -> tuple[pd.Series, pd.Series]:
    """The column as UTC timestamps (NaT where missing or unreadable), and which values were given."""
    if name not in frame.columns:
        raise ValueError(f"the periods frame needs columns 'start' and 'end', got {list(frame.columns)}")
    raw = frame[name].reset_index(drop=True)
    return pd.to_datetime(raw, utc=True, errors="coerce"), raw.notna()


def _read_frame(frame: pd.DataFrame) -> tuple[list[tuple[Bound, Bound]], list[PeriodProblem]]:
    starts, starts_given = _column(frame, "start")
    ends, ends_given = _column(frame, "end")
    rows: list[tuple[Bound, Bound]] = []
    problems = []
    for row, (start, end) in enumerate(zip(starts, ends, strict=True)):
        start, end = _utc(start), _utc(end)
        rows.append((start, end))
        if start is None and end is None and not starts_given[row] and not ends_given[row]:
            message = f"Period {row + 1} is empty: fill in its start and end, or delete the row."
            problems.append(PeriodProblem(row, None, message, ProblemKind.MISSING))
            continue
        for field, value, given in (("start", start, starts_given[row]), ("end", end, ends_given[row])):
            if value is None and given:
                message = f"Period {row + 1}: the {field} is not a date and time."
                problems.append(PeriodProblem(row, field, message, ProblemKind.UNREADABLE))
            elif value is None:
                message = f"Period {row + 1} has no {field}: fill it in, or delete the row."
                problems.append(PeriodProblem(row, field, message, ProblemKind.MISSING))
    return rows, problems


def periods_from_frame(frame: pd.DataFrame) -> tuple[list[Period], list[PeriodProblem]]:
    """The editor's rows (columns start/end, naive = UTC, any mix of time zones) as periods.

    Rows with a missing or unreadable value become problems, not periods; everything else about the
    periods (order, range, overlaps) is for `check_periods`, which takes the same frame.
    """
    rows, problems = _read_frame(frame)
    periods = [
        Period(start=start.to_pydatetime(), end=end.to_pydatetime())
        for start, end in rows
        if start is not None and end is not None
    ]
    return periods, problems


def periods_to_frame(periods: Iterable[Period]) -> pd.DataFrame:
    """The editor's source frame: columns start and end, UTC, with those dtypes even when empty."""
    return typed_frame(({"start": period.start, "end": period.end} for period in periods), PERIOD_COLUMNS)


def check_periods(
    range_start: datetime | None,
    range_end: datetime | None,
    periods: Sequence[Period] | pd.DataFrame,
) -> list[PeriodProblem]:
    """Every problem with the excluded periods, in row order.

    `periods` may be the editor's frame itself (see `periods_from_frame`), so row numbers match what
    the user sees even when a row is incomplete.
    """
    if isinstance(periods, pd.DataFrame):
        rows, problems = _read_frame(periods)
    else:
        rows, problems = [(_utc(period.start), _utc(period.end)) for period in periods], []
    range_start, range_end = _utc(range_start), _utc(range_end)
    range_is_valid = not check_range(range_start, range_end)
    complete: dict[int, tuple[pd.Timestamp, pd.Timestamp]] = {}
    for row, (start, end) in enumerate(rows):
        if start is None or end is None:
            continue
        if start >= end:
            message = f"Period {row + 1} must end after it starts: {_span(start, end)}."
            problems.append(PeriodProblem(row, "end", message, ProblemKind.ORDER))
            continue
        complete[row] = (start, end)
        if range_is_valid:
            problems.extend(_outside_range(row, start, end, range_start, range_end))
    problems.extend(_overlaps(complete))
    return sorted(problems, key=lambda problem: problem.row if problem.row is not None else -1)


def _outside_range(
    row: int, start: pd.Timestamp, end: pd.Timestamp, range_start: Bound, range_end: Bound
) -> list[PeriodProblem]:
    name = f"Period {row + 1} ({_span(start, end)})"
    if range_start is not None and end <= range_start:
        message = f"{name} lies entirely before the range starts ({describe_time(range_start)}): "
        return [PeriodProblem(row, None, message + "it excludes nothing.", ProblemKind.OUTSIDE)]
    if range_end is not None and start >= range_end:
        message = f"{name} lies entirely after the range ends ({describe_time(range_end)}): "
        return [PeriodProblem(row, None, message + "it excludes nothing.", ProblemKind.OUTSIDE)]
    problems = []
    if range_start is not None and start < range_start:
        message = f"{name} starts before the range starts ({describe_time(range_start)}): "
        message += f"only {_span(range_start, min(end, range_end or end))} is excluded."
        problems.append(PeriodProblem(row, "start", message, ProblemKind.PARTLY_OUTSIDE))
    if range_end is not None and end > range_end:
        message = f"{name} ends after the range ends ({describe_time(range_end)}): "
        message += f"only {_span(max(start, range_start or start), range_end)} is excluded."
        problems.append(PeriodProblem(row, "end", message, ProblemKind.PARTLY_OUTSIDE))
    return problems


def _overlaps(periods: dict[int, tuple[pd.Timestamp, pd.Timestamp]]) -> list[PeriodProblem]:
    """One problem per period that overlaps earlier rows, naming them."""
    rows = list(periods)
    starts = np.array([periods[row][0].value for row in rows], dtype="int64")
    ends = np.array([periods[row][1].value for row in rows], dtype="int64")
    # Half-open periods overlap when each starts before the other ends.
    overlapping = (starts[:, None] < ends[None, :]) & (starts[None, :] < ends[:, None])
    problems = []
    for later, row in enumerate(rows):
        earlier = [rows[other] + 1 for other in np.flatnonzero(overlapping[later, :later])]
        if earlier:
            names = _join([str(number) for number in earlier])
            noun = "period" if len(earlier) == 1 else "periods"
            message = f"Period {row + 1} ({_span(*periods[row])}) overlaps {noun} {names}."
            problems.append(PeriodProblem(row, None, message, ProblemKind.OVERLAP))
    return problems


def _join(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def merge_overlapping(periods: Iterable[Period]) -> list[Period]:
    """The union of the periods as the fewest periods, sorted by start; touching periods join too.

    A period that does not end after it starts raises ValueError naming it (`periods[i].end`).
    """
    ordered = []
    for index, period in enumerate(periods):
        if period.start >= period.end:
            raise ValueError(f"periods[{index}].end: must be after start ({_span(period.start, period.end)})")
        ordered.append(period)
    ordered.sort(key=lambda period: period.start)
    merged: list[Period] = []
    for period in ordered:
        if merged and period.start <= merged[-1].end:
            last = merged[-1]
            merged[-1] = Period(start=last.start, end=max(last.end, period.end))
        else:
            merged.append(Period(start=period.start, end=period.end))
    return merged


DAY_RULE = ("A day is a UTC day, midnight to midnight. \"Last N days\" is the N whole days before today: "
            "today, still being recorded, is left out, as in the demo dataset.")


def last_whole_days(days: int, now: datetime | None = None) -> tuple[datetime, datetime]:
    """The `days` whole UTC days before today: (midnight `days` days before today, today's midnight).

    The one definition of "the last N days" for the editor's presets, its new datasets and the demo.
    """
    if days < 1:
        raise ValueError(f"days: must be at least 1, got {days}")
    today = pd.Timestamp(as_utc(now or datetime.now(UTC))).floor("D")
    return (today - pd.Timedelta(days=days)).to_pydatetime(), today.to_pydatetime()
