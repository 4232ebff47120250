"""What the commands share: the `--json` flag, the period options, the session and the dataset lookup."""

from __future__ import annotations

from typing import Annotated

import typer

from ueba_api.cli.inputs import DATE_HELP
from ueba_api.cli.problems import UsageProblem
from ueba_api.cli.session import Session
from ueba_api.client import UebaClient
from ueba_api.errors import BadRequestError, NotFoundError
from ueba_api.models import Dataset

JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON object (keys in docs/cli.md).")]
StartOption = Annotated[str | None, typer.Option("--start", help=f"Range start: {DATE_HELP}.")]
EndOption = Annotated[str | None, typer.Option("--end", help="Range end (exclusive), as --start.")]
ExcludeOption = Annotated[
    list[str] | None,
    typer.Option(
        "--exclude", metavar="START/END", help="A period to leave out (repeat the option for more)."
    ),
]
DatasetId = Annotated[str, typer.Argument(metavar="ID", help="The dataset's id (see `ueba datasets list`).")]
RunOption = Annotated[int | None, typer.Option("--run", min=1, help="Run number, 1 = the oldest training.")]


def session(ctx: typer.Context) -> Session:
    return ctx.find_root().obj


def client(ctx: typer.Context) -> UebaClient:
    return session(ctx).client()


def fetch_dataset(api: UebaClient, dataset_id: str, *, logs: bool | None = None) -> Dataset:
    """The dataset, or a usage problem (exit 2) naming the unknown id: checked before anything is changed."""
    try:
        return api.get_dataset(dataset_id, logs=logs)
    except (NotFoundError, BadRequestError) as error:
        if isinstance(error, BadRequestError) and error.property != "dataset_id":
            raise
        raise UsageProblem(f"ID: there is no dataset {dataset_id!r} on {api.base_url}") from None
