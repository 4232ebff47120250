"""Benchmarks of the reference server: run them as `python -m bench.<name>` from the project root."""

from __future__ import annotations

import argparse


def benchmark_parser(description: str | None) -> argparse.ArgumentParser:
    """The command line of a benchmark, its module docstring as the help (usage lines kept as written)."""
    return argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
