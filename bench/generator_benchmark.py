"""How fast the connection generator and the SQLite import are, from the default size to 10M.

    python -m bench.generator_benchmark [--sizes 150000 1000000 10000000]

Prints, per size, seconds to generate and to insert, rows per second, the store's size on disk, and
the cost per million rows relative to the smallest size (1.00 = scales linearly). In `python -m bench`
its line is that relative cost at the largest size: at most 1.5 (near-linear growth).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

from bench import benchmark_parser
from bench.harness import Verdict, detail
from bench.stores import build_store

SIZES = [150_000, 1_000_000, 10_000_000]
QUICK_SIZES = [150_000, 1_000_000]
MAX_GROWTH = 1.5


def measure(sizes: list[int], emit: Callable[[str], None] = print) -> float:
    """Prints the table; returns the cost per row at the largest size over that at the smallest."""
    emit(f"{'rows':>11} {'generate s':>11} {'gen rows/s':>11} {'insert s':>9} {'ins rows/s':>11} "
         f"{'total s':>8} {'MB on disk':>10} {'s/M rows vs first':>18}")  # fmt: skip
    baseline, growth = None, 1.0
    for size in sizes:
        with tempfile.TemporaryDirectory(prefix="ueba-bench-") as data_dir:
            built = build_store(Path(data_dir), size)
        total = built.generate_seconds + built.insert_seconds
        per_million = total / (size / 1e6)
        baseline = baseline or per_million
        growth = per_million / baseline
        emit(
            f"{size:>11,} {built.generate_seconds:>11.2f} {size / built.generate_seconds:>11,.0f} "
            f"{built.insert_seconds:>9.2f} {size / built.insert_seconds:>11,.0f} {total:>8.1f} "
            f"{built.file_bytes / 1e6:>10.0f} {growth:>18.2f}"
        )
    return growth


def run(quick: bool) -> Verdict:
    sizes = QUICK_SIZES if quick else SIZES
    growth = measure(sizes, detail)
    return Verdict(
        "generator",
        f"{growth:.2f}x the cost per row of {sizes[0]:,} rows at {sizes[-1]:,}",
        f"<= {MAX_GROWTH}x",
        growth <= MAX_GROWTH,
    )


def main() -> None:
    parser = benchmark_parser(__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=SIZES)
    measure(parser.parse_args().sizes)


if __name__ == "__main__":
    main()
