"""The `ueba` command line (Typer + Rich): `ueba --help`, or `python -m ueba_api --help`.

Kept out of `ueba_api/__init__`: importing the client library loads neither Typer nor Rich.
"""

from __future__ import annotations


def main() -> None:
    from ueba_api.cli.app import main as run

    run()
