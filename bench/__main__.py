"""Every benchmark, one after the other: `python -m bench [--quick] [--only NAME ...]`.

Each benchmark prints its own table (indented), then one line
`<name>: <measured> (target <target>) ok|short`. `--quick` runs smaller versions (a smoke test, about
3 minutes on 2 cores; a line may read short on a loaded machine). The exit code is 0 when every
benchmark ran, whatever its verdict, and 1 when one crashed (its line then says `crashed`).
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import sqlite3
import sys
import time
import traceback
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from bench.harness import Verdict

# Module of bench/ per benchmark name, in the order they run.
BENCHMARKS = {
    "generator": "bench.generator_benchmark",
    "count_latency": "bench.count_benchmark",
    "list": "bench.list_benchmark",
    "demo": "bench.demo_benchmark",
    "page_scaling": "bench.page_scaling",
    "server_vs_bare": "bench.server_vs_bare",
    "client_vs_per_request": "bench.client_vs_per_request",
    "training_overhead": "bench.training_overhead",
    "coverage_timeline": "bench.coverage_timeline",
}


PACKAGES = [
    "numpy",
    "pandas",
    "scikit-learn",
    "fastapi",
    "starlette",
    "uvicorn",
    "uvloop",
    "httptools",
    "httpx",
    "pydantic",
    "streamlit",
]


def installed(package: str) -> str:
    """The package's version; uvloop, for one, is not installed on Windows."""
    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"


def machine() -> str:
    """Where the figures come from: cores, CPU model, memory, load, Python, SQLite and package versions."""
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())  # fmt: skip
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    packages = ", ".join(f"{name} {installed(name)}" for name in PACKAGES)
    return (f"{os.cpu_count()} cores ({cpu}), {memory:.0f} GiB, load average {load}; Python"
            f" {platform.python_version()}, SQLite {sqlite3.sqlite_version}; {packages}")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="smaller versions, for a smoke test")
    parser.add_argument("--only", nargs="+", choices=list(BENCHMARKS), help="run only these")
    options = parser.parse_args()
    crashed = False
    started = time.perf_counter()
    print(f"machine: {machine()}", flush=True)
    for name in options.only or BENCHMARKS:
        print(f"[{name}]", flush=True)
        benchmark_started = time.perf_counter()
        try:
            verdict: Verdict = importlib.import_module(BENCHMARKS[name]).run(quick=options.quick)
            line = str(verdict)
        except Exception as error:  # one benchmark's crash must not hide the others' lines
            traceback.print_exc()
            crashed = True
            line = f"{name}: crashed ({type(error).__name__}: {error})"
        print(f"    ({time.perf_counter() - benchmark_started:.0f} s)", flush=True)
        print(line, flush=True)
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(
        f"all benchmarks: {time.perf_counter() - started:.0f} s; load average at the end {load}", flush=True
    )
    return 1 if crashed else 0


if __name__ == "__main__":
    sys.exit(main())
