"""Benchmarks of the reference server, the client and the app: `python -m bench [--quick]` runs them all
(see bench/__main__.py and bench/RESULTS.md); most also run alone as `python -m bench.<module>`."""

from __future__ import annotations

import argparse


def benchmark_parser(description: str | None) -> argparse.ArgumentParser:
    """The command line of a benchmark, its module docstring as the help (usage lines kept as written)."""
    return argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
