"""What a command prints: a Rich table for people, or with `--json` one JSON object (keys in docs/cli.md).

Results go to stdout; progress, warnings and errors to stderr, so `--json` output stays parseable.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from ueba_api.frames import json_ready

MISSING = "—"

# Into a file or a CI log Rich would wrap tables at 80 columns; there nothing limits the width.
LOG_WIDTH = 200
stdout: Console
stderr: Console


def open_consoles() -> None:
    """Consoles for one run of the command line, made as it starts (`main` calls this): a console judges
    at its making whether its stream is a terminal (colours, width) and reads NO_COLOR, FORCE_COLOR and
    COLUMNS. Made once at import, a second run in the same process (a notebook, a test) would keep the
    first one's verdict: escape codes into a redirected file, or none on a terminal."""
    global stdout, stderr
    stdout = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else LOG_WIDTH)
    stderr = Console(stderr=True, highlight=False, soft_wrap=True)


open_consoles()  # for the commands run without `main`, as Typer's own test runner does


def emit(json_output: bool, payload: Mapping[str, Any], human: Callable[[], None]) -> None:
    """`payload` as one JSON object, or `human()` to print for people."""
    if json_output:
        sys.stdout.write(json.dumps(json_ready(payload), indent=2, ensure_ascii=False) + "\n")
        sys.stdout.flush()
    else:
        human()


def warn(message: str) -> None:
    stderr.print(f"Warning: {message}", markup=False)


def note(message: str) -> None:
    stderr.print(message, markup=False)


def text(value: Any, pattern: str = "") -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return MISSING
    if isinstance(value, datetime):
        return f"{value:%Y-%m-%d %H:%M:%S} UTC"
    return format(value, pattern)


def table(columns: Sequence[str], rows: Sequence[Sequence[Any]], *, title: str | None = None) -> None:
    shown = Table(title=Text(title) if title else None, title_justify="left")
    for column in columns:
        shown.add_column(column, overflow="fold")
    for row in rows:
        # Text, not str: user text such as a comment is no Rich markup.
        shown.add_row(*(Text(value if isinstance(value, str) else text(value)) for value in row))
    stdout.print(shown)


def facts(pairs: Sequence[tuple[str, Any]]) -> None:
    shown = Table(show_header=False, box=None, pad_edge=False)
    shown.add_column(style="dim")
    shown.add_column(overflow="fold")
    for name, value in pairs:
        shown.add_row(name, Text(value if isinstance(value, str) else text(value)))
    stdout.print(shown)
