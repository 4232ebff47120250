"""Reading the command line's dates, periods and dataset files, and refusing bad ones before anything is
sent: a date that is no date, a range or period that ends before it starts (`ueba_api.periods`)."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from pydantic import ValidationError

from ueba_api.cli.problems import UsageProblem, validation_sentence
from ueba_api.models import Dataset, Period, TimeRange, as_utc
from ueba_api.periods import blocking_problems, check_periods, check_range

DATE_HELP = "RFC 3339, e.g. 2026-01-31T00:00:00Z or 2026-01-31 (UTC when no offset is given)"


def parse_utc(option: str, text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageProblem(f"{option}: {text!r} is not a date and time ({DATE_HELP})") from None
    return as_utc(value)


def parse_period(text: str, position: int) -> Period:
    start, separator, end = text.partition("/")
    if not separator:
        raise UsageProblem(f"--exclude {position}: {text!r} is not START/END ({DATE_HELP} on each side)")
    return Period(
        start=parse_utc(f"--exclude {position} start", start), end=parse_utc(f"--exclude {position} end", end)
    )


def time_range_from_options(
    start: str | None, end: str | None, exclude: Sequence[str] | None, base: TimeRange | None = None
) -> TimeRange:
    """The options as a `TimeRange`; what they leave out comes from `base` (the dataset as it is)."""
    base = base or TimeRange()
    periods = [parse_period(text, position) for position, text in enumerate(exclude or [], start=1)]
    return TimeRange(
        start=parse_utc("--start", start) if start else base.start,
        end=parse_utc("--end", end) if end else base.end,
        exclude=periods if exclude else base.exclude,
    )


def check_time_range(time_range: TimeRange, source: str = "--exclude") -> list[str]:
    """The warnings to show (periods outside the range, overlaps); a problem that makes the range unusable
    (a reversed range or period) raises `UsageProblem` naming `source` or `--end`."""
    range_problems = blocking_problems(check_range(time_range.start, time_range.end))
    if range_problems:
        raise UsageProblem(f"{'--end' if source == '--exclude' else source}: {range_problems[0].message}")
    problems = check_periods(time_range.start, time_range.end, time_range.exclude)
    blocking = blocking_problems(problems)
    if blocking:
        raise UsageProblem(f"{source}: {blocking[0].message}")
    return [problem.message for problem in problems if not problem.blocking]


def dataset_from_file(path: Path) -> Dataset:
    """A dataset in the API's shape (`time_range_settings`, `comment`, `use_for_inference_once_trained`)
    from a JSON file (`-`: stdin)."""
    try:
        text = sys.stdin.read() if str(path) == "-" else path.read_text(encoding="utf-8")
    except OSError as error:
        raise UsageProblem(f"--from-file: cannot read {path} ({error.strerror or error})") from None
    try:
        dataset = Dataset.model_validate(json.loads(text))
    except json.JSONDecodeError as error:
        raise UsageProblem(f"--from-file: {path} is not JSON ({error})") from None
    except ValidationError as error:
        raise UsageProblem(f"--from-file: {validation_sentence(error)}") from None
    return dataset
