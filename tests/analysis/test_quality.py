from __future__ import annotations

import math

import numpy as np
import pytest

from ueba_api.models import MISSING_STATUS, DatasetList, Histogram, TrainingResult
from ueba_api.quality import (
    FEW_CONNECTIONS_FACTOR,
    HEAVY_TAIL_RATIO,
    MIN_TRAINING_CONNECTIONS,
    Q999_MIN_VALIDATION,
    HintKind,
    QualityHint,
    Severity,
    quality_hints,
    share_above,
    threshold_for_share,
)


@pytest.fixture(scope="module")
def losses() -> np.ndarray:
    """Per-connection validation losses shaped like an autoencoder's: skewed, with a tail."""
    return np.random.default_rng(42).lognormal(mean=-3.4, sigma=0.55, size=20_000)


@pytest.fixture(scope="module")
def histogram(losses: np.ndarray) -> Histogram:
    counts, edges = np.histogram(losses, bins=50)
    return Histogram(hist=counts.tolist(), bin_edges=edges.tolist())


def test_share_above_equals_numpy_at_the_bin_edges(losses: np.ndarray, histogram: Histogram) -> None:
    # The first edge is the smallest loss itself, which `>` leaves out: it is checked separately below.
    for edge in histogram.bin_edges[1:]:
        assert share_above(histogram, edge) == pytest.approx((losses > edge).mean(), abs=1e-12)


def test_share_above_within_a_bin_is_off_by_less_than_that_bins_share(
    losses: np.ndarray, histogram: Histogram
) -> None:
    edges, counts = np.array(histogram.bin_edges), np.array(histogram.hist)
    for threshold in np.random.default_rng(1).uniform(edges[0], edges[-1], 60):
        bin_index = np.searchsorted(edges, threshold, side="right") - 1
        bin_share = counts[bin_index] / counts.sum()
        assert abs(share_above(histogram, threshold) - (losses > threshold).mean()) <= bin_share + 1e-12


def test_share_above_is_everything_below_the_histogram_and_nothing_above(histogram: Histogram) -> None:
    assert share_above(histogram, histogram.bin_edges[0]) == 1.0
    assert share_above(histogram, histogram.bin_edges[0] - 1) == 1.0
    assert share_above(histogram, histogram.bin_edges[-1]) == 0.0
    assert share_above(histogram, histogram.bin_edges[-1] + 1) == 0.0


def test_share_above_interpolates_linearly_within_a_bin() -> None:
    histogram = Histogram(hist=[2.0, 6.0, 2.0], bin_edges=[0.0, 1.0, 2.0, 3.0])

    assert share_above(histogram, 1.0) == pytest.approx(0.8)
    assert share_above(histogram, 1.5) == pytest.approx(0.5)
    assert share_above(histogram, 2.75) == pytest.approx(0.05)


def test_threshold_for_share_inverts_share_above(histogram: Histogram) -> None:
    for share in (0.9, 0.5, 0.1, 0.01, 0.001):
        assert share_above(histogram, threshold_for_share(histogram, share)) == pytest.approx(share)
    for threshold in np.linspace(histogram.bin_edges[0], histogram.bin_edges[20], 7):
        assert threshold_for_share(histogram, share_above(histogram, threshold)) == pytest.approx(threshold)


def test_threshold_for_share_one_percent_is_the_99th_percentile_within_a_bin(
    losses: np.ndarray, histogram: Histogram
) -> None:
    bin_width = histogram.bin_edges[1] - histogram.bin_edges[0]
    assert threshold_for_share(histogram, 0.01) == pytest.approx(np.quantile(losses, 0.99), abs=bin_width)


def test_threshold_for_share_picks_the_lowest_loss_when_bins_are_empty() -> None:
    histogram = Histogram(hist=[5.0, 0.0, 5.0], bin_edges=[0.0, 1.0, 2.0, 3.0])

    assert threshold_for_share(histogram, 0.5) == 1.0
    assert threshold_for_share(histogram, 1.0) == 0.0
    assert threshold_for_share(histogram, 0.0) == 3.0
    assert threshold_for_share(histogram, 0.25) == pytest.approx(2.5)


def test_share_functions_read_a_result_too(trained: TrainingResult) -> None:
    histogram = trained.validation_dataset_histogram
    assert share_above(trained, 0.1) == share_above(histogram, 0.1)
    assert threshold_for_share(trained, 0.01) == threshold_for_share(histogram, 0.01)


@pytest.mark.parametrize("share", [-0.01, 1.01])
def test_threshold_for_share_names_a_share_out_of_range(histogram: Histogram, share: float) -> None:
    with pytest.raises(ValueError, match="share: must be between 0 and 1"):
        threshold_for_share(histogram, share)


@pytest.mark.parametrize("empty", [Histogram(), Histogram(hist=[0.0, 0.0], bin_edges=[0.0, 1.0, 2.0])])
def test_share_functions_refuse_a_histogram_without_connections(empty: Histogram) -> None:
    with pytest.raises(ValueError, match=r"validation_dataset_histogram\.hist: the histogram holds no"):
        share_above(empty, 0.5)
    with pytest.raises(ValueError, match=r"validation_dataset_histogram\.hist"):
        threshold_for_share(empty, 0.5)


def _result(training: list[float], validation: list[float], **fields: object) -> TrainingResult:
    values = {"num_connections": 50_000, "quantile_99": 0.12, "quantile_999": 0.2} | fields
    return TrainingResult(
        status="SUCCESS", training_dataset_loss=training, validation_dataset_loss=validation, **values
    )


HEALTHY_TRAINING = [0.22, 0.13, 0.081, 0.053, 0.038, 0.030, 0.026, 0.023, 0.022, 0.0205, 0.0203, 0.0202]
HEALTHY_VALIDATION = [0.21, 0.13, 0.081, 0.056, 0.041, 0.033, 0.029, 0.027, 0.0253, 0.0244, 0.0246, 0.0241]


def kinds(hints: list[QualityHint]) -> list[HintKind]:
    return [hint.kind for hint in hints]


def test_a_healthy_result_gets_no_hints(trained: TrainingResult) -> None:
    assert quality_hints(trained) == []
    assert quality_hints(_result(HEALTHY_TRAINING, HEALTHY_VALIDATION)) == []


def test_overfitting_is_validation_rising_while_training_falls() -> None:
    validation = [*HEALTHY_VALIDATION[:6], 0.030, 0.031, 0.032, 0.033, 0.034, 0.036]
    [hint] = quality_hints(_result(HEALTHY_TRAINING, validation))

    assert (hint.kind, hint.severity) == (HintKind.OVERFITTING, Severity.WARNING)
    assert hint.message == (
        "Possible overfitting: over the last 5 epochs the validation loss rose from 0.03 at epoch 7 to 0.036 "
        "at epoch 12 (+20.0%) while the training loss fell from 0.026 to 0.0202. The best validation loss "
        "was 0.03 at epoch 7."
    )


def test_no_overfitting_when_both_losses_rise_or_validation_barely_moves() -> None:
    both_rising = [*HEALTHY_TRAINING[:6], 0.031, 0.032, 0.033, 0.034, 0.035, 0.036]
    validation = [*HEALTHY_VALIDATION[:6], 0.030, 0.031, 0.032, 0.033, 0.034, 0.036]
    assert HintKind.OVERFITTING not in kinds(quality_hints(_result(both_rising, validation)))
    flat = [*HEALTHY_VALIDATION[:6], 0.0333, 0.0333, 0.0334, 0.0334, 0.0335, 0.0336]
    assert quality_hints(_result(HEALTHY_TRAINING, flat)) == []


def test_no_convergence_when_the_training_loss_hardly_fell() -> None:
    flat = [0.10, 0.098, 0.097, 0.096, 0.095, 0.095]
    [hint] = quality_hints(_result(flat, [0.11, 0.108, 0.107, 0.106, 0.106, 0.106]))

    assert (hint.kind, hint.severity) == (HintKind.NO_CONVERGENCE, Severity.WARNING)
    assert hint.message.startswith(
        "The training loss did not clearly fall: 0.1 at epoch 1, 0.095 at epoch 6 "
        "(-5.0%; expected at least -10%)."
    )


def test_no_convergence_when_the_validation_loss_still_drops_steeply_at_the_end() -> None:
    validation = [*HEALTHY_VALIDATION[:8], 0.025, 0.023, 0.021, 0.019]
    [hint] = quality_hints(_result(HEALTHY_TRAINING, validation))

    assert (hint.kind, hint.severity) == (HintKind.NO_CONVERGENCE, Severity.INFO)
    assert "from 0.025 to 0.019 (-24.0%) over the last 3 epochs" in hint.message


def _small_run(connections: int, validation_share: float) -> TrainingResult:
    """A SUCCESS run as the engine reports it: its validation histogram holds its validation split."""
    validation = round(connections * validation_share)
    losses = np.random.default_rng(7).lognormal(mean=-3.4, sigma=0.55, size=validation)
    counts, edges = np.histogram(losses, bins=50)
    histogram = Histogram(hist=counts.tolist(), bin_edges=edges.tolist())
    return _result(HEALTHY_TRAINING, HEALTHY_VALIDATION, num_connections=connections,
                   validation_dataset_histogram=histogram)


def test_the_connections_hint_fires_on_a_successful_run_above_the_engine_minimum() -> None:
    # 8,000 connections trains (the engine wants 5,000) but is below twice that; 20% validation is 1,600.
    [hint] = quality_hints(_small_run(8000, 0.2))

    assert (hint.kind, hint.severity) == (HintKind.FEW_CONNECTIONS, Severity.WARNING)
    assert hint.message == (
        "The model was trained on 8,000 connections, fewer than 10,000 (2× the engine's minimum of 5,000): "
        "it has seen too little to tell usual from unusual reliably."
    )
    assert FEW_CONNECTIONS_FACTOR * MIN_TRAINING_CONNECTIONS == 10_000


def test_the_connections_hint_is_relative_to_the_given_minimum() -> None:
    assert quality_hints(_small_run(10_000, 0.2)) == []
    assert quality_hints(_small_run(20_000, 0.2)) == []
    [hint] = quality_hints(_small_run(20_000, 0.2), min_connections=12_000)
    assert "fewer than 24,000 (2× the engine's minimum of 12,000)" in hint.message


def test_a_validation_set_too_small_for_q999_is_named_with_its_size() -> None:
    # An engine that validates on 10% of 6,000 connections: 600 validation connections, so fewer than one
    # is expected beyond q999.
    hints = quality_hints(_small_run(6000, 0.1))

    assert kinds(hints) == [HintKind.FEW_CONNECTIONS, HintKind.SMALL_VALIDATION_SET]
    small = hints[1]
    assert small.severity == Severity.WARNING
    assert small.message == (
        "The validation set holds 600 connections (the histogram's total), fewer than 1,000: not even one "
        "of them is expected above q999 (0.2), so q999 is little more than the largest loss seen. A "
        "threshold near q99 or below rests on more connections."
    )
    assert Q999_MIN_VALIDATION == 1000


def test_a_validation_set_of_a_thousand_is_enough_and_a_missing_histogram_says_nothing() -> None:
    assert quality_hints(_small_run(50_000, 0.02)) == []
    assert HintKind.SMALL_VALIDATION_SET in kinds(quality_hints(_small_run(50_000, 0.0198)))
    without_histogram = _result(HEALTHY_TRAINING, HEALTHY_VALIDATION, validation_dataset_histogram=None)
    assert quality_hints(without_histogram) == []
    unreadable = Histogram(hist=[400.0, math.nan, 3.0], bin_edges=[0.0, 0.1, 0.2, 0.3])
    assert quality_hints(_result(HEALTHY_TRAINING, HEALTHY_VALIDATION,
                                 validation_dataset_histogram=unreadable)) == []


def test_a_heavy_tail_is_q999_far_above_q99() -> None:
    [hint] = quality_hints(_result(HEALTHY_TRAINING, HEALTHY_VALIDATION, quantile_99=0.1, quantile_999=0.45))

    assert (hint.kind, hint.severity) == (HintKind.HEAVY_TAIL, Severity.INFO)
    assert hint.message.startswith("Heavy tail: q999 (0.45) is 4.5× q99 (0.1), above 3×.")
    assert HEAVY_TAIL_RATIO == 3
    at_limit = _result(HEALTHY_TRAINING, HEALTHY_VALIDATION, quantile_99=0.1, quantile_999=0.3)
    assert quality_hints(at_limit) == []


def test_hints_come_most_serious_first() -> None:
    flat = [0.10, 0.098, 0.097, 0.096, 0.095, 0.095]
    hints = quality_hints(_result(flat, flat, num_connections=6000, quantile_99=0.1, quantile_999=0.5))

    assert kinds(hints) == [HintKind.NO_CONVERGENCE, HintKind.FEW_CONNECTIONS, HintKind.HEAVY_TAIL]


def test_a_failed_run_gets_one_error_hint_with_its_error(dataset_list: DatasetList) -> None:
    failure = dataset_list.items[0].training_results[0]
    [hint] = quality_hints(failure)

    assert (hint.kind, hint.severity) == (HintKind.FAILED, Severity.ERROR)
    assert hint.message == (
        "The training failed (REQUIRED_VALUE_MISSING: Not enough connections to train: 3120 "
        "(at least 5000 needed))."
    )
    assert str(quality_hints(TrainingResult(status="FAILURE"))[0]) == (
        "The training failed; no error was given."
    )


@pytest.mark.parametrize("status", ["TRAINING", "QUEUED"])
def test_a_run_not_finished_gets_one_info_hint(status: str) -> None:
    [hint] = quality_hints(TrainingResult(status=status, training_dataset_loss=[0.3, 0.3, 0.3]))

    assert (hint.kind, hint.severity) == (HintKind.NOT_FINISHED, Severity.INFO)
    assert hint.message == f"The training is not finished (status {status}): hints come once it succeeds."


def test_a_run_without_status_is_not_judged() -> None:
    [hint] = quality_hints(TrainingResult.model_validate({"num_connections": 6000}))

    assert hint.kind == HintKind.NOT_FINISHED
    assert hint.message == (
        f"The server gave no status for this run (read as {MISSING_STATUS}): hints come once it reports "
        "SUCCESS."
    )


NAN = math.nan


def test_missing_losses_are_named_by_epoch_and_kept_out_of_the_messages() -> None:
    training = [*HEALTHY_TRAINING[:8], NAN, *HEALTHY_TRAINING[9:]]
    # The overfitting of the test above, with epochs 2 and 8 of the validation loss missing: a NaN must
    # not pass for the best validation loss (numpy's argmin would pick it).
    validation = [0.21, NAN, *HEALTHY_VALIDATION[2:6], 0.030, NAN, 0.032, 0.033, 0.034, 0.036]
    hints = quality_hints(_result(training, validation))

    assert kinds(hints) == [HintKind.MISSING_LOSS, HintKind.OVERFITTING]
    assert hints[0].severity == Severity.WARNING
    assert hints[0].message == (
        "The server sent no usable loss (null or not a number) for the training split at epoch 9 and for "
        "the validation split at epochs 2 and 8: the curves skip those epochs (drawn from the epoch before "
        "to the epoch after), and so do their checks."
    )
    assert hints[1].message.startswith("Possible overfitting: over the last 5 epochs the validation loss "
                                       "rose from 0.03 at epoch 7 to 0.036 at epoch 12")
    assert hints[1].message.endswith("The best validation loss was 0.03 at epoch 7.")


@pytest.mark.parametrize(
    "curves",
    [([*HEALTHY_TRAINING[:-1], NAN], HEALTHY_VALIDATION), ([NAN, *HEALTHY_TRAINING[1:]], HEALTHY_VALIDATION),
     (HEALTHY_TRAINING, [*HEALTHY_VALIDATION[:-1], NAN]), (HEALTHY_TRAINING, [NAN] * 12)],
    ids=["last training", "first training", "last validation", "all validation"],
)
def test_a_check_whose_epochs_are_missing_is_skipped(curves: tuple[list[float], list[float]]) -> None:
    [hint] = quality_hints(_result(*curves))

    assert hint.kind == HintKind.MISSING_LOSS
    assert "nan" not in hint.message.lower()


def test_a_result_without_curves_or_statistics_gets_no_hints() -> None:
    assert quality_hints(TrainingResult(status="SUCCESS")) == []
    zero_start = _result([0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0], quantile_99=0.0)
    assert kinds(quality_hints(zero_start)) == []
