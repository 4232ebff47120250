"""The `ueba` command line: the root with its connection options, the service commands, and `main`."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from ueba_api.cli import datasets, output, training
from ueba_api.cli.common import DatasetId, EndOption, ExcludeOption, JsonFlag, StartOption, client
from ueba_api.cli.inputs import check_time_range, time_range_from_options
from ueba_api.cli.problems import ExitCode, Problem, one_line, validation_sentence
from ueba_api.cli.session import Session
from ueba_api.errors import UebaError
from ueba_api.models import AnomalyAction, enum_text

HELP = """Manage PrivX UEBA datasets and models from scripts and pipelines.

Connection: the PRIVX_API_* variables (BASE_URL, CLIENT_ID, CLIENT_SECRET, OAUTH_CLIENT_ID,
OAUTH_CLIENT_SECRET, TOKEN, CA_CERT), overridden by the options below, or --embedded DATA_DIR for the
reference server. A secret option also takes @FILE or - (stdin), to keep it out of shell history.

Exit codes: 0 ok, 1 the API refused or failed (or a waited-for training failed), 2 usage,
3 quality gate failed, 4 timed out waiting.
"""

SECRET_HELP = " Also @FILE or - (stdin)."

app = typer.Typer(
    name="ueba",
    help=HELP,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    add_completion=False,
)
app.add_typer(datasets.app, name="datasets")
app.command("train")(training.train)
app.command("history")(training.history)
app.command("runs", help="Same as `history`.")(training.history)
app.command("gate")(training.run_gate)
app.command("report")(training.make_report)
anomaly_app = typer.Typer(
    help="Read or change what happens to an anomalous connection.", no_args_is_help=True
)
analyze_app = typer.Typer(
    help="Start or stop analyzing connections with a dataset's model.", no_args_is_help=True
)
app.add_typer(anomaly_app, name="anomaly-settings")
app.add_typer(analyze_app, name="analyze")


@app.callback()
def connect(
    ctx: typer.Context,
    base_url: Annotated[str | None, typer.Option(help="e.g. https://privx.example.com")] = None,
    client_id: Annotated[str | None, typer.Option(help="The API client's id.")] = None,
    client_secret: Annotated[str | None, typer.Option(help="The API client's secret." + SECRET_HELP)] = None,
    oauth_client_id: Annotated[str | None, typer.Option(help="[default: privx-external]")] = None,
    oauth_client_secret: Annotated[
        str | None, typer.Option(help="OAuth client secret." + SECRET_HELP)
    ] = None,
    token: Annotated[
        str | None, typer.Option(help="A bearer token instead of client credentials." + SECRET_HELP)
    ] = None,
    ca_cert: Annotated[str | None, typer.Option(help="CA bundle (PEM file) to trust.")] = None,
    timeout: Annotated[
        float | None, typer.Option(min=0, help="Seconds per request phase [default: 30].")
    ] = None,
    embedded: Annotated[
        Path | None,
        typer.Option(
            metavar="DATA_DIR",
            help="Start the reference server on this data dir for the command (a demo without PrivX).",
        ),
    ] = None,
    embedded_connections: Annotated[
        int | None, typer.Option(min=1, help="Connections the embedded server generates on its first start.")
    ] = None,
) -> None:
    options = {
        "base_url": base_url,
        "client_id": client_id,
        "client_secret": client_secret,
        "oauth_client_id": oauth_client_id,
        "oauth_client_secret": oauth_client_secret,
        "token": token,
        "ca_cert": ca_cert,
        "timeout": timeout,
    }
    session = Session(options, embedded=embedded, embedded_connections=embedded_connections)
    ctx.obj = session
    ctx.call_on_close(session.close)


@app.command("count")
def count(
    ctx: typer.Context,
    start: StartOption = None,
    end: EndOption = None,
    exclude: ExcludeOption = None,
    json_output: JsonFlag = False,
) -> None:
    """Count the connections in a period (all of them without options).

    Example: ueba count --start 2026-09-01 --end 2026-12-01 --exclude 2026-10-01/2026-10-08
    """
    time_range = time_range_from_options(start, end, exclude)
    for warning in check_time_range(time_range):
        output.warn(warning)
    counted = client(ctx).count_connections(time_range)
    output.emit(
        json_output,
        {"count": counted, "time_range": time_range.to_request()},
        lambda: output.stdout.print(f"{counted:,}", markup=False),
    )


@app.command("status")
def status(ctx: typer.Context, json_output: JsonFlag = False) -> None:
    """The UEBA service's status and version.

    Example: ueba status --json
    """
    api = client(ctx)
    answer = api.get_status()
    payload = {"base_url": api.base_url, **answer.model_dump(mode="json")}
    output.emit(
        json_output,
        payload,
        lambda: output.facts(
            [
                ("Server", api.base_url),
                ("Status", str(enum_text(answer.status) or "—")),
                ("Message", answer.status_message or ""),
                ("Version", answer.version or "—"),
                ("API version", answer.api_version or "—"),
                ("Started", answer.start_time),
            ]
        ),
    )


def _print_settings(json_output: bool, action: str, threshold: float) -> None:
    output.emit(
        json_output,
        {"action": action, "threshold": threshold},
        lambda: output.facts([("Action", action), ("Threshold", f"{threshold:g}")]),
    )


@anomaly_app.command("get")
def anomaly_get(ctx: typer.Context, json_output: JsonFlag = False) -> None:
    """Show the anomaly settings.

    Example: ueba anomaly-settings get
    """
    settings = client(ctx).get_anomaly_settings()
    _print_settings(json_output, enum_text(settings.action), settings.threshold)


class Action(StrEnum):
    BLOCK = AnomalyAction.BLOCK.value
    AUDIT = AnomalyAction.AUDIT.value


@anomaly_app.command("set")
def anomaly_set(
    ctx: typer.Context,
    action: Annotated[Action | None, typer.Option("--action", case_sensitive=False)] = None,
    threshold: Annotated[
        float | None,
        typer.Option(
            "--threshold",
            min=0,
            max=1,
            help="0..1, as PrivX's anomaly settings take it (no mapping to a loss).",
        ),
    ] = None,
    json_output: JsonFlag = False,
) -> None:
    """Change the anomaly settings; what is not given keeps its value.

    Example: ueba anomaly-settings set --action AUDIT --threshold 0.8
    """
    api = client(ctx)
    current = api.get_anomaly_settings()
    new_action = action.value if action else enum_text(current.action)
    new_threshold = current.threshold if threshold is None else threshold
    api.set_anomaly_settings(action=new_action, threshold=new_threshold)
    _print_settings(json_output, new_action, new_threshold)


@analyze_app.command("start")
def analyze_start(ctx: typer.Context, dataset_id: DatasetId, json_output: JsonFlag = False) -> None:
    """Analyze connections with the dataset's model (it needs a successful run).

    Example: ueba analyze start 6f1c...
    """
    api = client(ctx)
    training.fetch_dataset(api, dataset_id)
    api.start_analyzing(dataset_id)
    output.emit(
        json_output,
        {"analyzing": dataset_id},
        lambda: output.stdout.print(f"Analyzing with {dataset_id}.", markup=False),
    )


@analyze_app.command("stop")
def analyze_stop(ctx: typer.Context, json_output: JsonFlag = False) -> None:
    """Stop analyzing: no dataset is active afterwards.

    Example: ueba analyze stop
    """
    client(ctx).stop_analyzing()
    output.emit(
        json_output, {"analyzing": None}, lambda: output.stdout.print("Stopped analyzing.", markup=False)
    )


def main(argv: list[str] | None = None) -> None:
    """Runs the command line and exits with its code (see HELP); errors are one line on stderr."""
    output.open_consoles()
    try:
        result = app(args=argv, prog_name="ueba", standalone_mode=False)
        code = result if isinstance(result, int) else ExitCode.OK
    except typer.Exit as done:
        code = done.exit_code
    except typer.Abort:
        output.note("Aborted.")
        code = ExitCode.USAGE
    except typer.TyperException as error:  # a usage error, as Typer's own Click raises it
        show = getattr(error, "show", None)
        if show is not None:
            show()
        else:
            output.note(one_line(f"Error: {error}"))
        code = getattr(error, "exit_code", ExitCode.USAGE)
    except Problem as problem:
        output.note(one_line(f"Error: {problem}"))
        code = problem.code
    except UebaError as error:
        output.note(one_line(f"Error: {error}"))
        code = ExitCode.API_ERROR
    except ValidationError as error:  # an argument the client refused before sending it
        output.note(one_line(f"Error: {validation_sentence(error)}"))
        code = ExitCode.USAGE
    sys.exit(int(code))
