"""Which period problems stop a save, and when merging overlapping periods is offered (it loses no row)."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import pytest

from tests.analysis.january import FEB_1, JAN_1, day
from ueba_api.models import Period
from ueba_api.periods import (
    BLOCKING_KINDS,
    ProblemKind,
    blocking_problems,
    can_merge,
    check_periods,
    usable_periods,
)


def editor(*rows: tuple[object, object]) -> pd.DataFrame:
    """Rows as the data editor gives them: naive (UTC) wall times, None where a cell is still empty."""
    return pd.DataFrame({"start": [start for start, _ in rows], "end": [end for _, end in rows]})


def naive(number: int) -> datetime:
    return day(number).replace(tzinfo=None)


def test_missing_unreadable_and_reversed_rows_block_while_warnings_do_not() -> None:
    frame = editor((naive(2), None), ("soon", naive(4)), (naive(6), naive(5)),
                   (naive(20), naive(22)), (naive(21), naive(23)), (datetime(2023, 12, 1), naive(3)))
    problems = check_periods(JAN_1, FEB_1, frame)
    assert {problem.kind for problem in problems} == set(ProblemKind) - {ProblemKind.OUTSIDE}
    assert [(problem.row, problem.kind) for problem in blocking_problems(problems)] == [
        (0, ProblemKind.MISSING), (1, ProblemKind.UNREADABLE), (2, ProblemKind.ORDER)]
    assert all(problem.blocking == (problem.kind in BLOCKING_KINDS) for problem in problems)
    assert {ProblemKind.OVERLAP, ProblemKind.PARTLY_OUTSIDE, ProblemKind.OUTSIDE}.isdisjoint(BLOCKING_KINDS)


def test_merge_is_offered_for_overlaps_only_when_every_row_is_a_usable_period() -> None:
    overlapping = [(naive(2), naive(4)), (naive(3), naive(5))]
    assert can_merge(check_periods(JAN_1, FEB_1, editor(*overlapping)))
    # Outside the range is a warning: the merge keeps such a period, so it is still offered.
    in_march = (datetime(2024, 3, 1), datetime(2024, 3, 2))
    assert can_merge(check_periods(JAN_1, FEB_1, editor(*overlapping, in_march)))
    # Nothing overlaps: nothing to merge.
    assert not can_merge(check_periods(JAN_1, FEB_1, editor((naive(2), naive(4)), (naive(4), naive(5)))))
    assert not can_merge([])


@pytest.mark.parametrize(
    "unusable", [(naive(8), None), (None, None), ("tomorrow", naive(9)), (naive(9), naive(8))],
    ids=["no end yet", "empty row", "unreadable", "reversed"],
)
def test_merge_is_not_offered_while_a_row_would_be_lost(unusable: tuple[object, object]) -> None:
    frame = editor((naive(2), naive(4)), (naive(3), naive(5)), unusable)
    assert not can_merge(check_periods(JAN_1, FEB_1, frame))


def test_usable_periods_leave_out_reversed_and_empty_ones_whatever_the_zones() -> None:
    reversed_period = Period(start=day(6), end=day(5))
    empty = Period(start=day(7), end=day(7))
    naive_period = Period.model_construct(start=naive(2), end=naive(3))  # as a caller might build one
    assert usable_periods([Period(start=day(1), end=day(2)), reversed_period, empty, naive_period]) == [
        Period(start=day(1), end=day(2)), naive_period]
