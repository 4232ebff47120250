"""The CLI's exit codes and the problems that end a command with them.

    0 ok · 1 the API refused or failed · 2 usage (bad option or value, unknown dataset id or run)
    3 the quality gate failed · 4 timed out waiting · a training that ends in FAILURE exits 1

Each problem is one line on stderr; none carries a secret (messages name options, never their values).
"""

from __future__ import annotations

from enum import IntEnum

from pydantic import ValidationError


class ExitCode(IntEnum):
    OK = 0
    API_ERROR = 1
    USAGE = 2
    GATE_FAILED = 3
    TIMED_OUT = 4


class Problem(Exception):
    """A command cannot go on: `str()` is the one-line message, `code` the exit code."""

    code = ExitCode.API_ERROR


class UsageProblem(Problem):
    code = ExitCode.USAGE


class GateFailed(Problem):
    code = ExitCode.GATE_FAILED


class TimedOut(Problem):
    code = ExitCode.TIMED_OUT


class RunFailed(Problem):
    """The run `train --wait` followed ended in FAILURE (or any status but SUCCESS)."""

    code = ExitCode.API_ERROR


def one_line(text: str) -> str:
    return " ".join(str(text).split())


def validation_sentence(error: ValidationError) -> str:
    """A pydantic error as "field: message; ...", without the input (it may be a secret)."""
    parts = []
    for problem in error.errors(include_input=False, include_url=False):
        where = ".".join(str(part) for part in problem["loc"])
        parts.append(f"{where}: {problem['msg']}" if where else problem["msg"])
    return "; ".join(parts)
