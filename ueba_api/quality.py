"""Reading a training result: threshold shares from its histogram, and hints about model quality.

Every hint says what it saw, with the numbers, so an admin can judge it; the thresholds behind the
hints are the module constants below.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from ueba_api.frames import histogram_frame
from ueba_api.limits import MIN_TRAINING_CONNECTIONS
from ueba_api.models import MISSING_STATUS, Histogram, TrainingResult, TrainingStatus, enum_text

# Overfitting: over the last OVERFIT_WINDOW epochs the validation loss rose by more than
# OVERFIT_MIN_RISE (relative) while the training loss fell.
OVERFIT_WINDOW = 5
OVERFIT_MIN_RISE = 0.02
# No convergence: the final training loss must be at least MIN_IMPROVEMENT (relative) below the first.
MIN_IMPROVEMENT = 0.10
# Still dropping: the validation loss fell by more than STEEP_DROP (relative) over the last
# STEEP_WINDOW epochs, so more epochs would probably still help.
STEEP_WINDOW = 3
STEEP_DROP = 0.10
# The engine refuses to train on fewer than MIN_TRAINING_CONNECTIONS connections, so every SUCCESS run has
# at least that many: a hint at the minimum itself could never fire. It fires below FEW_CONNECTIONS_FACTOR
# times the minimum (10,000): a few thousand connections spread over users, hosts, accounts, source addresses
# and hours leave most combinations seen only a handful of times, so much of what is usual looks rare.
FEW_CONNECTIONS_FACTOR = 2
# q999 is the loss that 0.1% of the validation connections lie above: of n validation connections, n/1000
# are expected beyond it. Below Q999_MIN_VALIDATION = 1 / (1 - 0.999) = 1,000 not even one is, so q999 is
# no more than the largest loss seen (or a value between the largest two), and a threshold near it rests
# on one or two connections. The validation set's size is the sum of the histogram's counts.
Q999_MIN_VALIDATION = 1000
# Heavy tail: q999 / q99 above this. For comparison an exponential loss distribution gives 1.5 and a
# log-normal one with sigma 1 gives 2.1; beyond 3 the top 0.1% lie far out, so a threshold between
# q99 and q999 moves a lot for a small change in the share of connections flagged.
HEAVY_TAIL_RATIO = 3.0


class HintKind(StrEnum):
    FAILED = "failed"
    NOT_FINISHED = "not_finished"
    OVERFITTING = "overfitting"
    NO_CONVERGENCE = "no_convergence"
    FEW_CONNECTIONS = "few_connections"
    SMALL_VALIDATION_SET = "small_validation_set"
    HEAVY_TAIL = "heavy_tail"
    MISSING_LOSS = "missing_loss"


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


@dataclass(frozen=True)
class QualityHint:
    kind: HintKind
    severity: Severity
    message: str

    def __str__(self) -> str:
        return self.message


def _cumulative_share_above(histogram: Histogram | TrainingResult) -> tuple[np.ndarray, np.ndarray]:
    """The bin edges, and the share of connections above each edge (1 at the first, 0 at the last)."""
    bins = histogram_frame(histogram)
    total = bins["count"].sum()
    if total <= 0:
        raise ValueError("validation_dataset_histogram.hist: the histogram holds no connections")
    edges = np.append(bins["bin_start"].to_numpy(), bins["bin_end"].iloc[-1])
    above = 1 - np.concatenate(([0.0], np.cumsum(bins["count"].to_numpy()))) / total
    return edges, np.clip(above, 0.0, 1.0)


def share_above(histogram: Histogram | TrainingResult, threshold: float) -> float:
    """The share of validation connections whose loss lies above `threshold`.

    Exact at bin edges; within a bin the connections are taken to be spread evenly, so the share is
    interpolated linearly. Below the first edge it is 1, above the last 0.
    """
    edges, above = _cumulative_share_above(histogram)
    return float(np.interp(threshold, edges, above))


def threshold_for_share(histogram: Histogram | TrainingResult, share: float) -> float:
    """The lowest loss above which `share` of the validation connections lie: `share_above`'s inverse.

    `share` 0.01 gives (about) the 99th percentile. Interpolated linearly within a bin, as there.
    """
    if not 0 <= share <= 1:
        raise ValueError(f"share: must be between 0 and 1, got {share}")
    edges, above = _cumulative_share_above(histogram)
    # The first edge at or below the share; the bin before it holds connections, so it is not flat.
    first = int(np.argmax(above <= share))
    if first == 0:
        return float(edges[0])
    fraction = (above[first - 1] - share) / (above[first - 1] - above[first])
    return float(edges[first - 1] + fraction * (edges[first] - edges[first - 1]))


@dataclass(frozen=True)
class Bin:
    """One bin of a validation-loss histogram: its edges and its share of the connections."""

    start: float
    end: float
    share: float


def bin_at(histogram: Histogram | TrainingResult, loss: float) -> Bin | None:
    """The bin `loss` lies in (the upper one on an inner edge, the last one on the last edge); None
    outside the histogram. Within a bin the histogram says nothing of where its connections lie, which
    bounds how precisely `share_above` and `threshold_for_share` can answer there."""
    bins = histogram_frame(histogram)
    if bins.empty or not bins["bin_start"].iloc[0] <= loss <= bins["bin_end"].iloc[-1]:
        return None
    index = min(int(np.searchsorted(bins["bin_start"].to_numpy(), loss, side="right")) - 1, len(bins) - 1)
    row = bins.iloc[index]
    return Bin(float(row["bin_start"]), float(row["bin_end"]), float(row["share"]))


def _change(before: float, after: float) -> str:
    """The relative change as "+12.3%"; a loss of exactly 0 has no relative change to speak of."""
    return f"{after / before - 1:+.1%}" if before else "from 0"


def _known(*losses: float) -> bool:
    """Whether every loss is a number: a loss the server sent as null reads as NaN (see the models).

    The curve checks compare losses at given epochs; where one is missing they say nothing rather than
    rely on a comparison with NaN, and `_missing_losses` names the gap instead.
    """
    return all(math.isfinite(loss) for loss in losses)


def _epochs_text(epochs: Sequence[int]) -> str:
    numbers = [str(epoch) for epoch in epochs]
    if len(numbers) == 1:
        return f"epoch {numbers[0]}"
    return f"epochs {', '.join(numbers[:-1])} and {numbers[-1]}"


def _missing_losses(training: list[float], validation: list[float]) -> QualityHint | None:
    gaps = [
        f"the {split} split at {_epochs_text(missing)}"
        for split, losses in (("training", training), ("validation", validation))
        if (missing := [epoch for epoch, loss in enumerate(losses, start=1) if not _known(loss)])
    ]
    if not gaps:
        return None
    message = (
        f"The server sent no usable loss (null or not a number) for {' and for '.join(gaps)}: the curves "
        "skip those epochs (drawn from the epoch before to the epoch after), and so do their checks."
    )
    return QualityHint(HintKind.MISSING_LOSS, Severity.WARNING, message)


def _overfitting(training: list[float], validation: list[float]) -> QualityHint | None:
    if min(len(training), len(validation)) <= OVERFIT_WINDOW:
        return None
    val_from, val_to = validation[-OVERFIT_WINDOW - 1], validation[-1]
    train_from, train_to = training[-OVERFIT_WINDOW - 1], training[-1]
    if not _known(val_from, val_to, train_from, train_to):
        return None
    if val_to > val_from * (1 + OVERFIT_MIN_RISE) and train_to < train_from:
        # nanargmin: numpy's argmin would pick a missing epoch as the best one.
        best = int(np.nanargmin(validation))
        message = (
            f"Possible overfitting: over the last {OVERFIT_WINDOW} epochs the validation loss rose from "
            f"{val_from:.4g} at epoch {len(validation) - OVERFIT_WINDOW} to {val_to:.4g} at epoch "
            f"{len(validation)} ({_change(val_from, val_to)}) while the training loss fell from "
            f"{train_from:.4g} to {train_to:.4g}. The best validation loss was {validation[best]:.4g} at "
            f"epoch {best + 1}."
        )
        return QualityHint(HintKind.OVERFITTING, Severity.WARNING, message)
    return None


def _no_convergence(training: list[float], validation: list[float]) -> list[QualityHint]:
    hints = []
    if (
        len(training) >= 2
        and _known(training[0], training[-1])
        and training[-1] > training[0] * (1 - MIN_IMPROVEMENT)
    ):
        message = (
            f"The training loss did not clearly fall: {training[0]:.4g} at epoch 1, {training[-1]:.4g} at "
            f"epoch {len(training)} ({_change(training[0], training[-1])}; expected at least "
            f"{-MIN_IMPROVEMENT:+.0%}). The model may not have learned the connections' patterns."
        )
        hints.append(QualityHint(HintKind.NO_CONVERGENCE, Severity.WARNING, message))
    if len(validation) > STEEP_WINDOW:
        before, last = validation[-STEEP_WINDOW - 1], validation[-1]
        if _known(before, last) and last < before * (1 - STEEP_DROP):
            message = (
                f"The validation loss was still falling steeply at the end: from {before:.4g} to {last:.4g} "
                f"({_change(before, last)}) over the last {STEEP_WINDOW} epochs. "
                "More epochs would probably give a better model."
            )
            hints.append(QualityHint(HintKind.NO_CONVERGENCE, Severity.INFO, message))
    return hints


def _few_connections(result: TrainingResult, min_connections: int) -> QualityHint | None:
    enough = FEW_CONNECTIONS_FACTOR * min_connections
    if result.num_connections is None or result.num_connections >= enough:
        return None
    message = (
        f"The model was trained on {result.num_connections:,} connections, fewer than {enough:,} "
        f"({FEW_CONNECTIONS_FACTOR}× the engine's minimum of {min_connections:,}): it has seen too little "
        "to tell usual from unusual reliably."
    )
    return QualityHint(HintKind.FEW_CONNECTIONS, Severity.WARNING, message)


def _small_validation_set(result: TrainingResult) -> QualityHint | None:
    histogram = result.validation_dataset_histogram
    if histogram is None or not histogram.hist or not _known(*histogram.hist):
        return None  # no size to judge: a histogram with a missing count is refused where it is drawn
    validation = sum(histogram.hist)
    if not 0 < validation < Q999_MIN_VALIDATION:
        return None
    q999 = f" ({result.quantile_999:.4g})" if result.quantile_999 is not None else ""
    message = (
        f"The validation set holds {validation:,.0f} connections (the histogram's total), fewer than "
        f"{Q999_MIN_VALIDATION:,}: not even one of them is expected above q999{q999}, so q999 is little "
        "more than the largest loss seen. A threshold near q99 or below rests on more connections."
    )
    return QualityHint(HintKind.SMALL_VALIDATION_SET, Severity.WARNING, message)


def quality_hints(
    result: TrainingResult, *, min_connections: int = MIN_TRAINING_CONNECTIONS
) -> list[QualityHint]:
    """What looks wrong about a training result, most serious first; empty when nothing does.

    A failed run gives one error hint with its error; a run still training (or in a state this client
    does not know, or without a status) one info hint, since its numbers are not final. `min_connections`
    is the engine's minimum for a training; the connections hint fires below `FEW_CONNECTIONS_FACTOR`
    times it.
    """
    if result.status == TrainingStatus.FAILURE:
        cause = result.failure_cause
        message = f"The training failed ({cause})." if cause else "The training failed; no error was given."
        return [QualityHint(HintKind.FAILED, Severity.ERROR, message)]
    if result.status == MISSING_STATUS:
        message = (
            f"The server gave no status for this run (read as {MISSING_STATUS}): hints come once it reports "
            "SUCCESS."
        )
        return [QualityHint(HintKind.NOT_FINISHED, Severity.INFO, message)]
    if result.status != TrainingStatus.SUCCESS:
        status = enum_text(result.status)
        message = f"The training is not finished (status {status}): hints come once it succeeds."
        return [QualityHint(HintKind.NOT_FINISHED, Severity.INFO, message)]
    training, validation = result.training_dataset_loss, result.validation_dataset_loss
    hints = [hint for hint in [_missing_losses(training, validation), _overfitting(training, validation)]
             if hint]
    hints += _no_convergence(training, validation)
    hints += [hint for hint in [_few_connections(result, min_connections), _small_validation_set(result)]
              if hint]
    if result.quantile_99 and result.quantile_999 is not None:
        ratio = result.quantile_999 / result.quantile_99
        if ratio > HEAVY_TAIL_RATIO:
            message = (
                f"Heavy tail: q999 ({result.quantile_999:.4g}) is {ratio:.1f}× q99 "
                f"({result.quantile_99:.4g}), above {HEAVY_TAIL_RATIO:g}×. A few validation connections "
                "are far from the rest; check them before picking a threshold in that range."
            )
            hints.append(QualityHint(HintKind.HEAVY_TAIL, Severity.INFO, message))
    severity_order = list(Severity)[::-1]
    return sorted(hints, key=lambda hint: severity_order.index(hint.severity))
