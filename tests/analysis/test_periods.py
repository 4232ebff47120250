from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pandas as pd
import pytest

from tests.analysis.january import FEB_1, JAN_1, day
from ueba_api.frames import UTC_DTYPE
from ueba_api.models import Period
from ueba_api.periods import (
    PeriodProblem,
    ProblemKind,
    check_periods,
    check_range,
    last_whole_days,
    merge_overlapping,
    periods_from_frame,
    periods_to_frame,
)

HELSINKI_WINTER = timezone(timedelta(hours=2))


def period(start: int, end: int) -> Period:
    return Period(start=day(start), end=day(end))


def summary(problems: list[PeriodProblem]) -> list[tuple[int | None, str | None, ProblemKind]]:
    return [(problem.row, problem.field, problem.kind) for problem in problems]


def test_check_range_accepts_a_range_that_ends_after_it_starts() -> None:
    assert check_range(JAN_1, FEB_1) == []


@pytest.mark.parametrize("end", [JAN_1, JAN_1 - timedelta(minutes=1)])
def test_check_range_rejects_an_empty_or_inverted_range(end: datetime) -> None:
    [problem] = check_range(JAN_1, end)

    assert (problem.row, problem.field, problem.kind) == (None, "end", ProblemKind.ORDER)
    assert "must end after it starts" in problem.message
    assert "2024-01-01 00:00 UTC" in problem.message


def test_check_range_reads_naive_times_as_utc_and_converts_aware_ones() -> None:
    # 02:00 at UTC+2 is midnight UTC: the same instant as the naive (UTC) start.
    assert check_range(datetime(2024, 1, 1), datetime(2024, 1, 1, 2, tzinfo=HELSINKI_WINTER)) != []
    assert check_range(datetime(2024, 1, 1), datetime(2024, 1, 1, 3, tzinfo=HELSINKI_WINTER)) == []


def test_check_range_treats_a_missing_side_as_unbounded() -> None:
    assert check_range(None, FEB_1) == []
    assert check_range(JAN_1, None) == []


def test_periods_inside_the_range_without_overlap_have_no_problems() -> None:
    # Touching periods share no connection: [2, 5) and [5, 6) do not overlap.
    assert check_periods(JAN_1, FEB_1, [period(2, 5), period(5, 6), period(20, 22)]) == []


@pytest.mark.parametrize("bounds", [(5, 5), (6, 5)])
def test_a_period_must_end_after_it_starts(bounds: tuple[int, int]) -> None:
    [problem] = check_periods(JAN_1, FEB_1, [period(2, 3), period(*bounds)])

    assert summary([problem]) == [(1, "end", ProblemKind.ORDER)]
    assert problem.message.startswith("Period 2 must end after it starts")


def test_a_period_entirely_outside_the_range_says_on_which_side() -> None:
    problems = check_periods(day(10), day(20), [period(1, 5), period(5, 10), period(20, 25)])

    assert summary(problems) == [
        (0, None, ProblemKind.OUTSIDE),
        (1, None, ProblemKind.OUTSIDE),
        (2, None, ProblemKind.OUTSIDE),
    ]
    assert "entirely before the range starts (2024-01-10 00:00 UTC)" in problems[0].message
    assert "entirely after the range ends (2024-01-20 00:00 UTC)" in problems[2].message
    assert problems[0].message.endswith("it excludes nothing.")


def test_a_period_partly_outside_the_range_names_the_side_and_what_still_counts() -> None:
    problems = check_periods(day(10), day(20), [period(8, 12), period(18, 22)])

    assert summary(problems) == [
        (0, "start", ProblemKind.PARTLY_OUTSIDE),
        (1, "end", ProblemKind.PARTLY_OUTSIDE),
    ]
    assert problems[0].message == (
        "Period 1 (2024-01-08 00:00 UTC – 2024-01-12 00:00 UTC) starts before the range starts "
        "(2024-01-10 00:00 UTC): only 2024-01-10 00:00 UTC – 2024-01-12 00:00 UTC is excluded."
    )
    assert "ends after the range ends (2024-01-20 00:00 UTC): only 2024-01-18 00:00 UTC – " in (
        problems[1].message
    )


def test_a_period_around_the_whole_range_is_partly_outside_on_both_sides() -> None:
    problems = check_periods(day(10), day(20), [period(5, 25)])

    assert summary(problems) == [
        (0, "start", ProblemKind.PARTLY_OUTSIDE),
        (0, "end", ProblemKind.PARTLY_OUTSIDE),
    ]
    assert "only 2024-01-10 00:00 UTC – 2024-01-20 00:00 UTC is excluded" in problems[0].message
    assert "only 2024-01-10 00:00 UTC – 2024-01-20 00:00 UTC is excluded" in problems[1].message


def test_an_open_range_side_puts_no_limit_on_periods() -> None:
    assert check_periods(None, None, [period(1, 30)]) == []
    assert summary(check_periods(None, day(10), [period(1, 30)])) == [(0, "end", ProblemKind.PARTLY_OUTSIDE)]


def test_an_invalid_range_is_not_used_to_judge_periods() -> None:
    assert check_periods(day(20), day(10), [period(1, 30)]) == []


def test_overlapping_periods_name_the_earlier_rows() -> None:
    problems = check_periods(JAN_1, FEB_1, [period(2, 6), period(4, 8), period(5, 7), period(10, 11)])

    assert summary(problems) == [(1, None, ProblemKind.OVERLAP), (2, None, ProblemKind.OVERLAP)]
    assert problems[0].message == "Period 2 (2024-01-04 00:00 UTC – 2024-01-08 00:00 UTC) overlaps period 1."
    assert problems[1].message.endswith("overlaps periods 1 and 2.")
    assert str(problems[1]) == problems[1].message


def test_problems_come_in_row_order_whatever_their_kind() -> None:
    problems = check_periods(day(10), day(20), [period(12, 15), period(5, 6), period(13, 14), period(3, 2)])

    assert [problem.row for problem in problems] == [1, 2, 3]
    assert [problem.kind for problem in problems] == [
        ProblemKind.OUTSIDE, ProblemKind.OVERLAP, ProblemKind.ORDER,
    ]


def test_merge_overlapping_joins_overlapping_nested_and_touching_periods_in_start_order() -> None:
    merged = merge_overlapping([period(20, 22), period(4, 8), period(2, 6), period(8, 9), period(5, 7),
                                period(25, 30), period(26, 27)])

    assert merged == [period(2, 9), period(20, 22), period(25, 30)]


def test_merge_overlapping_leaves_separate_periods_alone() -> None:
    assert merge_overlapping([period(5, 6), period(1, 2)]) == [period(1, 2), period(5, 6)]
    assert merge_overlapping([]) == []


def test_merged_periods_no_longer_overlap() -> None:
    periods = [period(2, 6), period(4, 8), period(5, 7)]
    assert check_periods(JAN_1, FEB_1, merge_overlapping(periods)) == []


def test_merge_overlapping_names_a_period_that_does_not_end_after_it_starts() -> None:
    with pytest.raises(ValueError, match=r"periods\[1\]\.end: must be after start"):
        merge_overlapping([period(1, 2), period(5, 4)])


def test_periods_to_frame_gives_utc_columns_even_when_empty() -> None:
    empty = periods_to_frame([])
    full = periods_to_frame([period(2, 3)])

    assert list(empty.columns) == ["start", "end"]
    assert empty.dtypes.tolist() == [UTC_DTYPE, UTC_DTYPE]
    assert full.dtypes.tolist() == [UTC_DTYPE, UTC_DTYPE]
    assert full.iloc[0].tolist() == [pd.Timestamp(day(2)), pd.Timestamp(day(3))]


def test_periods_round_trip_through_the_editor_frame() -> None:
    periods = [period(2, 3), Period(start=day(5, 6), end=day(5, 18))]
    assert periods_from_frame(periods_to_frame(periods)) == (periods, [])


def test_periods_from_frame_reads_naive_as_utc_and_converts_other_zones() -> None:
    frame = pd.DataFrame(
        {
            "start": [datetime(2024, 1, 2), datetime(2024, 1, 5, 2, tzinfo=HELSINKI_WINTER)],
            "end": [pd.Timestamp("2024-01-03 12:00"), pd.Timestamp("2024-01-06", tz="UTC")],
        },
        dtype=object,
    )
    periods, problems = periods_from_frame(frame)

    assert problems == []
    assert periods == [Period(start=day(2), end=day(3, 12)), Period(start=day(5), end=day(6))]


def test_a_naive_row_added_to_an_empty_utc_editor_frame_is_still_read_as_utc() -> None:
    # A row without offset joining an empty UTC column makes pandas 3 drop the column's UTC dtype.
    added = pd.DataFrame({"start": [datetime(2024, 1, 2, 8)], "end": [datetime(2024, 1, 2, 9)]})
    edited = pd.concat([periods_to_frame([]), added], ignore_index=True)
    assert edited["start"].dtype != UTC_DTYPE

    periods, problems = periods_from_frame(edited)

    assert problems == []
    assert periods == [Period(start=day(2, 8), end=day(2, 9))]


def test_incomplete_editor_rows_are_problems_with_the_rows_position() -> None:
    # The editor keeps the labels of deleted rows out of the index: positions are what people see.
    frame = pd.DataFrame(
        {
            "start": [day(2), pd.NaT, pd.NaT, day(8), "next tuesday"],
            "end": [day(3), pd.NaT, day(6), pd.NaT, day(12)],
        },
        index=[0, 3, 4, 7, 9],
    )
    periods, problems = periods_from_frame(frame)

    assert periods == [period(2, 3)]
    assert summary(problems) == [
        (1, None, ProblemKind.MISSING),
        (2, "start", ProblemKind.MISSING),
        (3, "end", ProblemKind.MISSING),
        (4, "start", ProblemKind.UNREADABLE),
    ]
    assert problems[0].message == "Period 2 is empty: fill in its start and end, or delete the row."
    assert problems[1].message == "Period 3 has no start: fill it in, or delete the row."
    assert problems[3].message == "Period 5: the start is not a date and time."


def test_check_periods_on_the_editor_frame_keeps_row_numbers_past_incomplete_rows() -> None:
    frame = pd.DataFrame({"start": [day(2), pd.NaT, day(4)], "end": [day(6), pd.NaT, day(8)]})

    problems = check_periods(JAN_1, FEB_1, frame)

    assert summary(problems) == [(1, None, ProblemKind.MISSING), (2, None, ProblemKind.OVERLAP)]
    assert problems[1].message.endswith("overlaps period 1.")


def test_an_empty_editor_frame_has_no_periods_and_no_problems() -> None:
    assert periods_from_frame(periods_to_frame([])) == ([], [])
    assert check_periods(JAN_1, FEB_1, periods_to_frame([])) == []


def test_a_frame_without_the_period_columns_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="needs columns 'start' and 'end', got \\['from', 'to'\\]"):
        periods_from_frame(pd.DataFrame({"from": [], "to": []}))


def test_a_thousand_periods_are_checked_quickly() -> None:
    periods = [Period(start=JAN_1 + timedelta(hours=2 * n), end=JAN_1 + timedelta(hours=2 * n + 1))
               for n in range(1000)]
    periods.append(Period(start=JAN_1, end=JAN_1 + timedelta(hours=5)))

    problems = check_periods(None, None, periods)

    assert summary(problems) == [(1000, None, ProblemKind.OVERLAP)]
    assert problems[0].message.endswith("overlaps periods 1, 2 and 3.")


def test_the_last_n_days_are_the_whole_utc_days_before_today() -> None:
    """One definition for the presets, a new dataset and the demo: today, still being recorded, is out."""
    now = datetime(2026, 12, 2, 7, 30, tzinfo=UTC)
    assert last_whole_days(90, now) == (datetime(2026, 9, 3, tzinfo=UTC), datetime(2026, 12, 2, tzinfo=UTC))
    assert last_whole_days(1, now.replace(hour=0)) == (datetime(2026, 12, 1, tzinfo=UTC),
                                                       datetime(2026, 12, 2, tzinfo=UTC))
    with pytest.raises(ValueError, match="days: must be at least 1"):
        last_whole_days(0, now)
