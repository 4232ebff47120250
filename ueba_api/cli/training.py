"""`ueba train`, `history` (alias `runs`), `gate` and `report`: training runs and how good they are."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from ueba_api import frames, gate, report, review
from ueba_api.cli import output
from ueba_api.cli.common import DatasetId, JsonFlag, RunOption, client, fetch_dataset
from ueba_api.cli.problems import GateFailed, RunFailed, UsageProblem
from ueba_api.cli.waiting import wait_for_run
from ueba_api.frames import Run
from ueba_api.models import Dataset, TrainingStatus, enum_text


def _run_facts(run: Run) -> dict[str, Any]:
    """A run as `train --wait` and `gate` report it (keys in docs/cli.md)."""
    result = run.result
    return {
        "dataset_id": run.dataset_id,
        "run": run.number,
        "status": enum_text(result.status),
        "created": result.created,
        "num_connections": result.num_connections,
        "epochs": len(result.validation_dataset_loss),
        "final_training_loss": gate.final_loss(result.training_dataset_loss),
        "final_validation_loss": gate.final_loss(result.validation_dataset_loss),
        "quantile_99": result.quantile_99,
        "quantile_999": result.quantile_999,
        "error_code": result.error_code,
        "error_details": result.error_details,
    }


def train(
    ctx: typer.Context,
    dataset_id: DatasetId,
    activate: Annotated[
        bool, typer.Option("--activate", help="Make it the active dataset if the run succeeds.")
    ] = False,
    wait: Annotated[
        bool, typer.Option("--wait", help="Wait for the run to end; exit 1 unless it succeeds.")
    ] = False,
    timeout: Annotated[
        float | None,
        typer.Option("--timeout", min=0, help="With --wait: give up after this many seconds (exit 4)."),
    ] = None,
    interval: Annotated[
        float, typer.Option("--interval", min=0.1, help="With --wait: seconds between polls.")
    ] = 2.0,
    json_output: JsonFlag = False,
) -> None:
    """Train a dataset (or retrain it): a new run starts on the server.

    Example: ueba train 6f1c... --wait --timeout 1800
    """
    api = client(ctx)
    number = len(fetch_dataset(api, dataset_id).training_results) + 1
    connections = api.train_dataset(dataset_id, set_active_after_training=activate)
    started = {"dataset_id": dataset_id, "run": number, "connections": connections}
    if not wait:
        output.emit(
            json_output,
            {**started, "status": TrainingStatus.TRAINING.value},
            lambda: output.stdout.print(
                f"Run {number} of {dataset_id} started on {connections:,} connections.", markup=False
            ),
        )
        return
    output.note(f"Run {number} of {dataset_id} started on {connections:,} connections.")
    run = wait_for_run(api, dataset_id, number, timeout=timeout, interval=interval)
    facts = {**_run_facts(run), "connections": connections}
    output.emit(
        json_output,
        facts,
        lambda: output.stdout.print(review.finished_message(f"run {number}", run.result), markup=False),
    )
    if run.result.status != TrainingStatus.SUCCESS:
        raise RunFailed(review.finished_message(f"run {number} of {dataset_id}", run.result))


class HistoryFormat(StrEnum):
    TABLE = "table"
    CSV = "csv"
    JSON = "json"


def history(
    ctx: typer.Context,
    dataset_id: DatasetId,
    format: Annotated[
        HistoryFormat, typer.Option("--format", help="table for people; csv and json as the app's downloads.")
    ] = HistoryFormat.TABLE,
    json_output: JsonFlag = False,
) -> None:
    """The training history of a dataset, one row per run (oldest first).

    Example: ueba history 6f1c... --format csv > history.csv
    """
    dataset = fetch_dataset(client(ctx), dataset_id)
    table = review.history_table(frames.training_history(dataset))
    if json_output:
        output.emit(True, {"dataset_id": dataset_id, "runs": frames.records(table)}, lambda: None)
    elif format == HistoryFormat.CSV:
        sys.stdout.write(review.history_csv(table).decode())
    elif format == HistoryFormat.JSON:
        output.emit(True, {"dataset_id": dataset_id, "runs": frames.records(table)}, lambda: None)
    else:
        columns = ["run", "created (UTC)", "status", "num_connections", "epochs", "final_training_loss",
                   "final_validation_loss", "quantile_99", "quantile_999", "error_code"]
        formats = {"num_connections": ",", "final_training_loss": ".5g", "final_validation_loss": ".5g",
                   "quantile_99": ".5g", "quantile_999": ".5g"}
        rows = [[output.text(row[name], formats.get(name, "")) for name in columns]
                for row in frames.records(table)]
        output.table(["Run", "Created (UTC)", "Status", "Connections", "Epochs", "Final train loss",
                      "Final val. loss", "q99", "q999", "Error"], rows,
                     title=f"Training history of {dataset.comment_title or dataset_id}")


ACTIVE = "active"


def _baseline_spec(baseline: str | None) -> int | str | None:
    """`--baseline` read before anything is sent: a run number, "active", or None."""
    if baseline is None or baseline == ACTIVE:
        return baseline
    try:
        return int(baseline)
    except ValueError:
        raise UsageProblem(f"--baseline: {baseline!r} is neither a run number nor 'active'") from None


def _baseline(ctx: typer.Context, dataset: Dataset, baseline: int | str) -> Run:
    if baseline == ACTIVE:
        model = gate.active_model(client(ctx).list_datasets().items)
        if model is None:
            raise UsageProblem("--baseline active: no dataset is active with a successful run")
        return model
    return _pick(dataset, int(baseline), "--baseline")


def _pick(dataset: Dataset, number: int | None, option: str) -> Run:
    try:
        return gate.pick_run(dataset, number)
    except ValueError as error:
        raise UsageProblem(f"{option}: {str(error).removeprefix('run: ')}") from None


def run_gate(
    ctx: typer.Context,
    dataset_id: DatasetId,
    run: RunOption = None,
    max_warnings: Annotated[
        int | None, typer.Option("--max-warnings", min=0, help="Quality warnings allowed [default: 0].")
    ] = None,
    any_warnings: Annotated[
        bool, typer.Option("--any-warnings", help="Allow any number of warnings.")
    ] = False,
    baseline: Annotated[
        str | None,
        typer.Option(
            "--baseline",
            metavar="RUN|active",
            help="Compare with this run of the dataset, or with the model in use.",
        ),
    ] = None,
    max_q99_ratio: Annotated[
        float, typer.Option("--max-q99-ratio", min=0, help="Largest q99 / the baseline's q99.")
    ] = gate.DEFAULT_MAX_Q99_RATIO,
    max_loss_ratio: Annotated[
        float, typer.Option("--max-loss-ratio", min=0, help="Largest final validation loss / the baseline's.")
    ] = gate.DEFAULT_MAX_LOSS_RATIO,
    json_output: JsonFlag = False,
) -> None:
    """Judge a run (default: the latest) by its quality hints and, given a baseline, by how much worse it is
    than that. Exit 3 when it fails.

    Example: ueba gate 6f1c... --baseline active --max-q99-ratio 1.1
    """
    if any_warnings and max_warnings is not None:
        raise UsageProblem("--any-warnings: give it or --max-warnings, not both")
    wanted = _baseline_spec(baseline)
    try:
        rules = gate.GateRules(
            max_warnings=None if any_warnings else (max_warnings or 0),
            max_q99_ratio=max_q99_ratio,
            max_loss_ratio=max_loss_ratio,
        )
    except ValueError as error:
        raise UsageProblem(f"--{str(error).replace('_', '-')}") from None
    dataset = fetch_dataset(client(ctx), dataset_id)
    judged = _pick(dataset, run, "--run")
    compared = _baseline(ctx, dataset, wanted) if wanted is not None else None
    verdict = gate.judge(judged.result, baseline=compared.result if compared else None, rules=rules)
    payload = {
        "dataset_id": dataset_id,
        "run": judged.number,
        "passed": verdict.passed,
        "baseline": {"dataset_id": compared.dataset_id, "run": compared.number} if compared else None,
        "checks": [
            {
                "name": check.name,
                "passed": check.passed,
                "value": check.value,
                "limit": check.limit,
                "message": check.message,
            }
            for check in verdict.checks
        ],
        "hints": [
            {"kind": hint.kind.value, "severity": hint.severity.value, "message": hint.message}
            for hint in verdict.hints
        ],
    }

    def human() -> None:
        for check in verdict.checks:
            output.stdout.print(
                f"{'PASS' if check.passed else 'FAIL'}  {check.name}: {check.message}", markup=False
            )
        for hint in verdict.hints:
            output.stdout.print(f"hint  {hint.severity}: {hint.message}", markup=False)
        output.stdout.print(
            f"Gate {'passed' if verdict.passed else 'failed'} for run {judged.number} of {dataset_id}.",
            markup=False,
        )

    output.emit(json_output, payload, human)
    if not verdict.passed:
        raise GateFailed(
            f"Quality gate failed for run {judged.number} of {dataset_id}: "
            + " ".join(check.message for check in verdict.failures)
        )


def make_report(
    ctx: typer.Context,
    dataset_id: DatasetId,
    run: RunOption = None,
    compare: Annotated[
        int | None,
        typer.Option("--compare", min=1, metavar="RUN", help="Show this run of the dataset side by side."),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("-o", "--output", help="The HTML file [default: report-<id>-run-<n>.html].")
    ] = None,
    threshold: Annotated[
        list[float] | None,
        typer.Option("--threshold", help="A loss to add to the threshold table (repeat for more)."),
    ] = None,
    charts_dir: Annotated[
        Path | None, typer.Option("--charts-dir", help="Also write each chart there as SVG and PNG.")
    ] = None,
    json_output: JsonFlag = False,
) -> None:
    """Write the model-quality report of a run (default: the latest successful) as one HTML file that opens
    offline.

    Example: ueba report 6f1c... --compare 3 --threshold 0.05 -o report.html --charts-dir charts/
    """
    api = client(ctx)
    dataset = fetch_dataset(api, dataset_id)
    runs = frames.training_runs(dataset)
    if not runs:
        raise UsageProblem(f"ID: dataset {dataset_id} has not been trained yet")
    number = run or review.default_review_index([item.result for item in runs]) + 1
    for option, value in (("--run", number), ("--compare", compare)):
        if value is not None and value > len(runs):
            raise UsageProblem(f"{option}: dataset {dataset_id} has runs 1 to {len(runs)}, not {value}")
    path = out or Path(f"report-{dataset_id}-run-{number}.html")
    html = report.quality_report(
        api, dataset_id, number, compare=compare, thresholds=threshold or [], dataset=dataset
    )
    path.write_text(html, encoding="utf-8")
    written = []
    if charts_dir is not None:
        written = report.write_charts(report.report_charts(dataset, number, compare), charts_dir)
    payload = {
        "dataset_id": dataset_id,
        "run": number,
        "compare": compare,
        "output": str(path),
        "bytes": len(html.encode()),
        "charts": [str(item) for item in written],
    }
    output.emit(
        json_output,
        payload,
        lambda: output.stdout.print(
            f"Wrote {path}" + (f" and {len(written)} chart files in {charts_dir}" if written else "") + ".",
            markup=False,
        ),
    )
