"""The dataset editor's save rules: what saving a draft would do, as a plan the page shows and follows.

`save_plan(stored, draft, problems)` is one of:
- BLOCKED, with the reasons (an active dataset, or problems that make the draft unusable);
- NOTHING to save (the draft defines the same dataset as the stored one);
- CREATE (a new dataset);
- SAVE (an untrained dataset: nothing is lost);
- SAVE_DELETING_HISTORY: the server empties the training history of a dataset it updates, so the plan
  says what is lost (`runs_lost` runs and their weights; and that the model is not the active one).

A draft that keeps the same connections (overlapping periods merged, say) is still a change: the stored
definition differs, and saving it deletes the history all the same.

`changed_since(opened, current)` tells a dataset changed by someone else since the editor opened it,
from its `updated` time, with what changed; it needs no server support.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from ueba_api.models import Dataset, Period, as_utc
from ueba_api.periods import describe_time


class PlanKind(StrEnum):
    BLOCKED = "blocked"
    NOTHING = "nothing"
    CREATE = "create"
    SAVE = "save"
    SAVE_DELETING_HISTORY = "save_deleting_history"


ACTIVE_REASON = ("This dataset is active (used for inference), so it cannot be changed. "
                 "Deactivate it on the Datasets page first.")


@dataclass(frozen=True)
class SavePlan:
    kind: PlanKind
    changes: tuple[str, ...] = ()
    """What the draft changes in the stored definition, one sentence each."""
    reasons: tuple[str, ...] = ()
    """Why it cannot be saved (BLOCKED)."""
    runs_lost: int = 0
    model_active: bool = False

    @property
    def can_save(self) -> bool:
        return self.kind in (PlanKind.CREATE, PlanKind.SAVE, PlanKind.SAVE_DELETING_HISTORY)

    def confirmation(self) -> str:
        """What saving loses, for the confirmation dialog of SAVE_DELETING_HISTORY."""
        runs = f"{self.runs_lost:,} training run{'' if self.runs_lost == 1 else 's'}"
        active = ("Its model is the active one: inference stops using it." if self.model_active
                  else "Its model is not the active one, so inference is not affected.")
        return (f"Saving deletes this dataset's training history: {runs} and their model weights. {active} "
                "You will have to train it again before it can be used. Changes: "
                + " ".join(self.changes))


def _time(value: datetime | None, unbounded: str) -> str:
    return describe_time(value) if value is not None else unbounded


def _same_time(first: datetime | None, second: datetime | None) -> bool:
    if first is None or second is None:
        return first is second
    return as_utc(first) == as_utc(second)


def _periods(periods: Iterable[Period]) -> list[tuple[datetime, datetime]]:
    return [(as_utc(period.start), as_utc(period.end)) for period in periods]


def _comment(dataset: Dataset) -> str:
    return (dataset.comment or "").strip()


def definition_changes(before: Dataset, after: Dataset) -> list[str]:
    """What differs between two definitions of a dataset (range, excluded periods, comment, the
    use-for-inference flag), one sentence each; empty when they define the same dataset."""
    changes = []
    old, new = before.time_range_settings, after.time_range_settings
    if not _same_time(old.start, new.start):
        changes.append(f"Start: {_time(old.start, 'the first connection')} → "
                       f"{_time(new.start, 'the first connection')}.")
    if not _same_time(old.end, new.end):
        changes.append(f"End: {_time(old.end, 'the latest connection')} → "
                       f"{_time(new.end, 'the latest connection')}.")
    old_periods, new_periods = _periods(old.exclude), _periods(new.exclude)
    if old_periods != new_periods:
        if sorted(old_periods) == sorted(new_periods):
            changes.append("Excluded periods: the same periods in another order.")
        else:
            counts = f"{len(old_periods)} → {len(new_periods)}"
            changes.append(f"Excluded periods: {counts}, not the same periods.")
    if _comment(before) != _comment(after):
        changes.append("Comment changed.")
    if before.use_for_inference_once_trained != after.use_for_inference_once_trained:
        flag = "on" if after.use_for_inference_once_trained else "off"
        changes.append(f"Use for inference once trained: turned {flag}.")
    return changes


def is_trained(dataset: Dataset) -> bool:
    return bool(dataset.training_results or dataset.last_training)


def save_plan(stored: Dataset | None, draft: Dataset, problems: Iterable[str] = ()) -> SavePlan:
    """What saving `draft` would do; `stored` is the dataset as the server has it (None: a new one) and
    `problems` the sentences of the draft's blocking problems."""
    problems = tuple(problems)
    if stored is None:
        return SavePlan(PlanKind.BLOCKED, reasons=problems) if problems else SavePlan(PlanKind.CREATE)
    if stored.is_active:
        return SavePlan(PlanKind.BLOCKED, reasons=(ACTIVE_REASON,), model_active=True)
    changes = tuple(definition_changes(stored, draft))
    if not changes:
        return SavePlan(PlanKind.NOTHING)
    if problems:
        return SavePlan(PlanKind.BLOCKED, changes=changes, reasons=problems)
    if is_trained(stored):
        return SavePlan(PlanKind.SAVE_DELETING_HISTORY, changes=changes,
                        runs_lost=len(stored.training_results), model_active=stored.is_active)
    return SavePlan(PlanKind.SAVE, changes=changes)


def changed_since(opened: Dataset, current: Dataset) -> list[str] | None:
    """None if the dataset is as the editor opened it (same `updated`); else what changed meanwhile,
    its definition and its training history (possibly nothing visible: then a sentence says so)."""
    if _same_time(opened.updated, current.updated) and len(opened.training_results) == len(
            current.training_results) and opened.is_active == current.is_active:
        return None
    changes = definition_changes(opened, current)
    if len(opened.training_results) != len(current.training_results):
        changes.append(f"Training runs: {len(opened.training_results)} → {len(current.training_results)}.")
    if opened.is_active != current.is_active:
        changes.append("It is now the active dataset." if current.is_active else "It is no longer active.")
    if not changes:
        by = f" by {current.updated_by}" if current.updated_by else ""
        changes.append(f"It was saved again{by} at {_time(current.updated, 'an unknown time')}, "
                       "with the same definition.")
    return changes
