"""The dataset editor's save rules (`ueba_api.saving`): what saving a draft would do, and what changed
since the editor opened a dataset."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.analysis.january import FEB_1, JAN_1, day
from ueba_api.models import Dataset, Period, TimeRange, TrainingResult
from ueba_api.periods import merge_overlapping
from ueba_api.saving import ACTIVE_REASON, PlanKind, changed_since, definition_changes, save_plan

UPDATED = datetime(2024, 2, 2, 9, 30, tzinfo=UTC)


def stored(runs: int = 0, *, active: bool = False, exclude: list[Period] | None = None,
           comment: str | None = "incident-free January", **fields: object) -> Dataset:
    results = [TrainingResult(status="SUCCESS") for _ in range(runs)]
    return Dataset(id="d1", time_range_settings=TimeRange(start=JAN_1, end=FEB_1, exclude=exclude or []),
                   comment=comment, is_active=active, training_results=results, updated=UPDATED,
                   last_training=UPDATED if runs else None, **fields)


def draft_of(dataset: Dataset, **changes: object) -> Dataset:
    """The draft the editor builds from a dataset: client-owned fields only, changed as given."""
    fields = {"time_range_settings": dataset.time_range_settings, "comment": dataset.comment,
              "use_for_inference_once_trained": dataset.use_for_inference_once_trained}
    return Dataset(**(fields | changes))


def test_a_new_dataset_is_created_unless_blocked() -> None:
    draft = draft_of(stored())
    assert save_plan(None, draft).kind == PlanKind.CREATE
    blocked = save_plan(None, draft, ["Period 1 has no end: fill it in, or delete the row."])
    assert (blocked.kind, blocked.reasons) == (PlanKind.BLOCKED,
                                               ("Period 1 has no end: fill it in, or delete the row.",))


@pytest.mark.parametrize("runs", [0, 3])
def test_with_no_change_there_is_nothing_to_save(runs: int) -> None:
    dataset = stored(runs)
    plan = save_plan(dataset, draft_of(dataset))
    assert (plan.kind, plan.can_save, plan.changes) == (PlanKind.NOTHING, False, ())


def test_naive_utc_times_and_surrounding_blanks_are_no_change() -> None:
    """The pickers hold naive UTC times and the page strips the comment: the same definition."""
    dataset = stored(2, comment="  January  ")
    naive = TimeRange(start=JAN_1.replace(tzinfo=None), end=FEB_1.replace(tzinfo=None))
    assert save_plan(dataset, draft_of(dataset, time_range_settings=naive, comment="January")).kind == (
        PlanKind.NOTHING)


def test_an_untrained_dataset_saves_without_confirmation() -> None:
    dataset = stored(0)
    plan = save_plan(dataset, draft_of(dataset, comment="renamed"))
    assert (plan.kind, plan.changes, plan.runs_lost) == (PlanKind.SAVE, ("Comment changed.",), 0)


def test_a_trained_dataset_says_exactly_what_is_lost() -> None:
    dataset = stored(3)
    later = TimeRange(start=JAN_1, end=FEB_1 + timedelta(days=1))
    plan = save_plan(dataset, draft_of(dataset, time_range_settings=later))
    assert (plan.kind, plan.runs_lost, plan.model_active) == (PlanKind.SAVE_DELETING_HISTORY, 3, False)
    assert plan.changes == ("End: 2024-02-01 00:00 UTC → 2024-02-02 00:00 UTC.",)
    assert plan.confirmation() == (
        "Saving deletes this dataset's training history: 3 training runs and their model weights. Its model "
        "is not the active one, so inference is not affected. You will have to train it again before it can "
        "be used. Changes: End: 2024-02-01 00:00 UTC → 2024-02-02 00:00 UTC.")


def test_merging_overlapping_periods_keeps_the_connections_but_is_still_a_change() -> None:
    """The server stores the definition, so a merge changes it (and saving deletes the history), even though
    the same connections are excluded."""
    overlapping = [Period(start=day(3), end=day(6)), Period(start=day(5), end=day(8))]
    dataset = stored(1, exclude=overlapping)
    merged = TimeRange(start=JAN_1, end=FEB_1, exclude=merge_overlapping(overlapping))
    plan = save_plan(dataset, draft_of(dataset, time_range_settings=merged))
    assert (plan.kind, plan.runs_lost) == (PlanKind.SAVE_DELETING_HISTORY, 1)
    assert plan.changes == ("Excluded periods: 2 → 1, not the same periods.",)


def test_an_active_dataset_cannot_be_saved_whatever_the_draft() -> None:
    dataset = stored(1, active=True)
    for draft in (draft_of(dataset), draft_of(dataset, comment="renamed")):
        plan = save_plan(dataset, draft)
        assert (plan.kind, plan.reasons, plan.model_active) == (PlanKind.BLOCKED, (ACTIVE_REASON,), True)


def test_blocking_problems_stop_a_changed_draft() -> None:
    dataset = stored(2)
    plan = save_plan(dataset, draft_of(dataset, comment="renamed"), ["The range must end after it starts."])
    assert (plan.kind, plan.can_save, plan.reasons) == (
        PlanKind.BLOCKED, False, ("The range must end after it starts.",))


def test_each_kind_of_change_is_named() -> None:
    before = stored(0, exclude=[Period(start=day(3), end=day(4)), Period(start=day(10), end=day(11))])
    after = draft_of(before, time_range_settings=TimeRange(
        start=None, end=FEB_1, exclude=list(reversed(before.time_range_settings.exclude))),
        use_for_inference_once_trained=True)
    assert definition_changes(before, after) == [
        "Start: 2024-01-01 00:00 UTC → the first connection.",
        "Excluded periods: the same periods in another order.",
        "Use for inference once trained: turned on.",
    ]


def test_a_dataset_unchanged_since_it_was_opened_has_no_conflict() -> None:
    assert changed_since(stored(1), stored(1)) is None


def test_a_dataset_changed_by_someone_else_says_what_changed() -> None:
    opened = stored(1)
    current = stored(0, comment="someone else's name", updated_by="alice").model_copy(
        update={"updated": UPDATED + timedelta(minutes=5)})
    assert changed_since(opened, current) == ["Comment changed.", "Training runs: 1 → 0."]


def test_a_save_with_the_same_definition_is_still_a_conflict() -> None:
    opened = stored(0)
    current = opened.model_copy(update={"updated": UPDATED + timedelta(minutes=5), "updated_by": "alice"})
    assert changed_since(opened, current) == [
        "It was saved again by alice at 2024-02-02 09:35 UTC, with the same definition."]


def test_a_training_started_meanwhile_is_a_change_too() -> None:
    assert changed_since(stored(1), stored(2)) == ["Training runs: 1 → 2."]
