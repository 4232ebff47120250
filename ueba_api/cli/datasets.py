"""`ueba datasets list | show | create | update | delete`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ueba_api.cli import output
from ueba_api.cli.common import (
    DatasetId,
    EndOption,
    ExcludeOption,
    JsonFlag,
    StartOption,
    client,
    fetch_dataset,
)
from ueba_api.cli.inputs import check_time_range, dataset_from_file, time_range_from_options
from ueba_api.cli.problems import UsageProblem
from ueba_api.limits import MAX_COMMENT_LENGTH, MAX_EXCLUDED_PERIODS
from ueba_api.models import Dataset, enum_text

app = typer.Typer(help="List, show, create, update and delete datasets.", no_args_is_help=True)

CommentOption = Annotated[
    str | None, typer.Option("--comment", help="Free text; its first line names the dataset in lists.")
]
OnceTrainedOption = Annotated[
    bool | None,
    typer.Option(
        "--use-once-trained/--no-use-once-trained",
        help="Make the dataset the active one when a training of it succeeds.",
    ),
]
FromFileOption = Annotated[
    Path | None,
    typer.Option(
        "--from-file",
        help="A JSON file in the API's dataset shape (time_range_settings, comment, "
        "use_for_inference_once_trained); `-` reads stdin. Options given as well win.",
    ),
]


def summary(dataset: Dataset) -> dict[str, Any]:
    """A dataset in the API's shape without its runs' details, plus `runs` and `latest_status`."""
    latest = dataset.latest_result
    return {
        **dataset.model_dump(mode="json", exclude={"training_results"}),
        "runs": len(dataset.training_results),
        "latest_status": enum_text(latest.status) if latest else None,
    }


@app.command("list")
def list_datasets(ctx: typer.Context, json_output: JsonFlag = False) -> None:
    """List the datasets.

    Example: ueba datasets list --json
    """
    datasets = client(ctx).list_datasets().items
    rows = [
        (
            d.id or "",
            d.comment_title or "",
            "yes" if d.is_active else "",
            d.time_range_settings.start,
            d.time_range_settings.end,
            str(len(d.time_range_settings.exclude)),
            str(len(d.training_results)),
            summary(d)["latest_status"] or "",
        )
        for d in datasets
    ]
    output.emit(
        json_output,
        {"count": len(datasets), "datasets": [summary(d) for d in datasets]},
        lambda: output.table(["Id", "Comment", "Active", "Start", "End", "Excluded", "Runs", "Latest"], rows),
    )


@app.command("show")
def show(ctx: typer.Context, dataset_id: DatasetId, json_output: JsonFlag = False) -> None:
    """Show a dataset, its connection count and its runs.

    Example: ueba datasets show 6f1c... --json
    """
    api = client(ctx)
    dataset = fetch_dataset(api, dataset_id)
    connections = api.count_connections(dataset.time_range_settings)

    def human() -> None:
        time_range = dataset.time_range_settings
        output.facts(
            [
                ("Id", dataset.id or ""),
                ("Comment", dataset.comment or ""),
                ("Start", time_range.start),
                ("End", time_range.end),
                (
                    "Excluded",
                    "; ".join(f"{output.text(p.start)} – {output.text(p.end)}" for p in time_range.exclude)
                    or "none",
                ),
                ("Connections", f"{connections:,}"),
                ("Active", "yes" if dataset.is_active else "no"),
                ("Runs", str(len(dataset.training_results))),
            ]
        )

    output.emit(json_output, {"dataset": summary(dataset), "connections": connections}, human)


def _dataset(
    base: Dataset | None,
    from_file: Path | None,
    start: str | None,
    end: str | None,
    exclude: list[str] | None,
    comment: str | None,
    once_trained: bool | None,
) -> Dataset:
    """The dataset to send: the file's (or `base`, the dataset as it is), with the options on top; its
    range checked before anything is sent."""
    dataset = dataset_from_file(from_file) if from_file is not None else base
    if dataset is None and start is None and end is None:
        raise UsageProblem("give --start and --end (and any --exclude), or --from-file")
    time_range = time_range_from_options(
        start, end, exclude, dataset.time_range_settings if dataset else None
    )
    for warning in check_time_range(time_range, "--from-file" if from_file is not None else "--exclude"):
        output.warn(warning)
    changes: dict[str, Any] = {"time_range_settings": time_range}
    if comment is not None:
        changes["comment"] = comment
    if once_trained is not None:
        changes["use_for_inference_once_trained"] = once_trained
    made = Dataset(**changes) if dataset is None else dataset.model_copy(update=changes)
    if len(made.comment or "") > MAX_COMMENT_LENGTH:
        raise UsageProblem(
            f"--comment: {len(made.comment):,} characters, more than the {MAX_COMMENT_LENGTH:,} "
            "a comment may hold"
        )
    if len(time_range.exclude) > MAX_EXCLUDED_PERIODS:
        raise UsageProblem(
            f"--exclude: {len(time_range.exclude):,} periods, more than the "
            f"{MAX_EXCLUDED_PERIODS:,} a dataset may hold"
        )
    return made


@app.command("create")
def create(
    ctx: typer.Context,
    start: StartOption = None,
    end: EndOption = None,
    exclude: ExcludeOption = None,
    comment: CommentOption = None,
    once_trained: OnceTrainedOption = None,
    from_file: FromFileOption = None,
    json_output: JsonFlag = False,
) -> None:
    """Create a dataset (it is not trained yet).

    Example: ueba datasets create --start 2026-09-01 --end 2026-12-01 --exclude 2026-10-01/2026-10-08
    --comment "Autumn, without the migration week"
    """
    dataset = _dataset(None, from_file, start, end, exclude, comment, once_trained)
    new_id = client(ctx).create_dataset(dataset)
    output.emit(json_output, {"id": new_id}, lambda: output.stdout.print(new_id, markup=False))


@app.command("update")
def update(
    ctx: typer.Context,
    dataset_id: DatasetId,
    start: StartOption = None,
    end: EndOption = None,
    exclude: ExcludeOption = None,
    comment: CommentOption = None,
    once_trained: OnceTrainedOption = None,
    from_file: FromFileOption = None,
    json_output: JsonFlag = False,
) -> None:
    """Change a dataset: options not given keep their value. The server empties its training history.

    Example: ueba datasets update 6f1c... --end 2026-12-02T00:00:00Z
    """
    api = client(ctx)
    dataset = _dataset(fetch_dataset(api, dataset_id), from_file, start, end, exclude, comment, once_trained)
    api.update_dataset(dataset_id, dataset)
    output.emit(
        json_output,
        {"id": dataset_id, "updated": True},
        lambda: output.stdout.print(f"Updated {dataset_id}.", markup=False),
    )


@app.command("delete")
def delete(ctx: typer.Context, dataset_id: DatasetId, json_output: JsonFlag = False) -> None:
    """Delete a dataset and its runs.

    Example: ueba datasets delete 6f1c...
    """
    api = client(ctx)
    fetch_dataset(api, dataset_id)
    api.delete_dataset(dataset_id)
    output.emit(
        json_output,
        {"id": dataset_id, "deleted": True},
        lambda: output.stdout.print(f"Deleted {dataset_id}.", markup=False),
    )
