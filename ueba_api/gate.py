"""The quality gate: whether a training run is good enough to ship, as a pipeline step decides it.

A run passes when it succeeded, its quality hints hold no more warnings than allowed, and, given a
baseline run (the model in use, say), it is not much worse than that baseline: its q99 and its final
validation loss may each be at most a set ratio of the baseline's. Every check says what it saw, with
the numbers, so a failed pipeline explains itself.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from ueba_api.frames import Run, training_runs
from ueba_api.models import Dataset, TrainingResult, TrainingStatus, enum_text
from ueba_api.quality import QualityHint, Severity, quality_hints

# A new model may be this much worse than its baseline before the gate stops it: 20% leaves room for the
# run-to-run noise of a retraining on a moved time range, and catches a model that learned clearly less.
DEFAULT_MAX_Q99_RATIO = 1.2
DEFAULT_MAX_LOSS_RATIO = 1.2
DEFAULT_MAX_WARNINGS = 0


@dataclass(frozen=True)
class GateRules:
    max_warnings: int | None = DEFAULT_MAX_WARNINGS
    """Warning hints a run may have; None: any number (errors always fail)."""
    max_q99_ratio: float = DEFAULT_MAX_Q99_RATIO
    """Largest allowed q99 / the baseline's q99."""
    max_loss_ratio: float = DEFAULT_MAX_LOSS_RATIO
    """Largest allowed final validation loss / the baseline's."""

    def __post_init__(self) -> None:
        if self.max_warnings is not None and self.max_warnings < 0:
            raise ValueError(f"max_warnings: must be 0 or more, got {self.max_warnings}")
        for name in ("max_q99_ratio", "max_loss_ratio"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name}: must be a number above 0, got {value}")


@dataclass(frozen=True)
class GateCheck:
    """One rule applied to the run: its name, whether it passed, the number it saw and its limit."""

    name: str
    passed: bool
    message: str
    value: float | None = None
    limit: float | None = None


@dataclass(frozen=True)
class GateVerdict:
    checks: list[GateCheck]
    hints: list[QualityHint] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.checks)

    @property
    def failures(self) -> list[GateCheck]:
        return [check for check in self.checks if not check.passed]


def final_loss(losses: Sequence[float]) -> float | None:
    """The last loss the server gave a number for (a null at the end reads as NaN); None without any."""
    return next((loss for loss in reversed(losses) if math.isfinite(loss)), None)


def _status_check(result: TrainingResult, name: str, what: str) -> GateCheck:
    status = enum_text(result.status)
    if result.status == TrainingStatus.SUCCESS:
        return GateCheck(name, True, f"{what} succeeded.")
    cause = f" ({result.failure_cause})" if result.failure_cause else ""
    return GateCheck(name, False, f"{what} has status {status}{cause}, not SUCCESS.")


def _warnings_check(hints: list[QualityHint], allowed: int | None) -> GateCheck:
    warnings = [hint for hint in hints if hint.severity == Severity.WARNING]
    count = len(warnings)
    if allowed is None:
        return GateCheck("warnings", True, f"{count} quality warnings (any number allowed).", count)
    passed = count <= allowed
    message = f"{count} quality warnings, {'within' if passed else 'more than'} the {allowed} allowed"
    message += "." if passed or not warnings else ": " + " ".join(hint.message for hint in warnings)
    return GateCheck("warnings", passed, message, count, allowed)


def _ratio_check(
    name: str, what: str, value: float | None, baseline: float | None, limit: float
) -> GateCheck:
    if value is None or baseline is None or not math.isfinite(value) or not math.isfinite(baseline):
        missing = "the run" if value is None or not math.isfinite(value) else "the baseline"
        return GateCheck(name, False, f"No {what} to compare: {missing} has none.", None, limit)
    if baseline <= 0:
        passed = value <= 0
        return GateCheck(
            name, passed, f"The baseline's {what} is {baseline:.5g}; the run's {value:.5g}.", None, limit
        )
    ratio = value / baseline
    passed = ratio <= limit
    message = (
        f"{what[0].upper()}{what[1:]} {value:.5g} is {ratio:.3f}× the baseline's {baseline:.5g}"
        f" ({'within' if passed else 'above'} the allowed {limit:g}×)."
    )
    return GateCheck(name, passed, message, ratio, limit)


def judge(
    result: TrainingResult, *, baseline: TrainingResult | None = None, rules: GateRules | None = None
) -> GateVerdict:
    """The gate's verdict on `result`, against `baseline` when given."""
    rules = rules or GateRules()
    hints = quality_hints(result)
    checks = [_status_check(result, "status", "The run")]
    if result.status == TrainingStatus.SUCCESS:
        checks.append(_warnings_check(hints, rules.max_warnings))
    if baseline is not None:
        checks.append(_status_check(baseline, "baseline_status", "The baseline"))
        if result.status == TrainingStatus.SUCCESS and baseline.status == TrainingStatus.SUCCESS:
            checks.append(
                _ratio_check(
                    "q99_ratio", "q99", result.quantile_99, baseline.quantile_99, rules.max_q99_ratio
                )
            )
            checks.append(
                _ratio_check(
                    "loss_ratio",
                    "final validation loss",
                    final_loss(result.validation_dataset_loss),
                    final_loss(baseline.validation_dataset_loss),
                    rules.max_loss_ratio,
                )
            )
    return GateVerdict(checks, hints)


def pick_run(dataset: Dataset, number: int | None) -> Run:
    """Run `number` (1-based) of the dataset; without a number its latest run.

    ValueError naming the run when the dataset has no such run (or none at all).
    """
    runs = training_runs(dataset)
    if not runs:
        raise ValueError(f"run: dataset {dataset.id} has not been trained yet")
    if number is None:
        return runs[-1]
    if not 1 <= number <= len(runs):
        raise ValueError(f"run: dataset {dataset.id} has runs 1 to {len(runs)}, not {number}")
    return runs[number - 1]


def active_model(datasets: Iterable[Dataset]) -> Run | None:
    """The model analysis uses now: the latest successful run of the active dataset; None when no dataset
    is active or the active one has no successful run."""
    active = next((dataset for dataset in datasets if dataset.is_active), None)
    if active is None:
        return None
    succeeded = [run for run in training_runs(active) if run.result.status == TrainingStatus.SUCCESS]
    return succeeded[-1] if succeeded else None
