"""How fast the connection generator and the SQLite import are, from the default size to 10M.

    python -m bench.generator_benchmark [--sizes 150000 1000000 10000000]

Prints, per size, seconds to generate and to insert, rows per second, the store's size on disk, and
the seconds per million rows. In `python -m bench` its line is the cost per row at the largest size
relative to the smallest (built first and last, the mean of both): at most 1.5 (near-linear growth).
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
    """Prints the table; returns the cost per row at the largest size over that at the smallest.

    The smallest size is built first and again last, and its cost is the mean of the two: a load spike
    on a shared machine during one small build would otherwise move the ratio by itself.
    """
    emit(f"{'rows':>11} {'generate s':>11} {'gen rows/s':>11} {'insert s':>9} {'ins rows/s':>11} "
         f"{'total s':>8} {'MB on disk':>10} {'s/M rows':>9}")  # fmt: skip
    per_million: list[float] = []
    for size in [*sizes, sizes[0]]:
        with tempfile.TemporaryDirectory(prefix="ueba-bench-") as data_dir:
            built = build_store(Path(data_dir), size)
        total = built.generate_seconds + built.insert_seconds
        per_million.append(total / (size / 1e6))
        emit(
            f"{size:>11,} {built.generate_seconds:>11.2f} {size / built.generate_seconds:>11,.0f} "
            f"{built.insert_seconds:>9.2f} {size / built.insert_seconds:>11,.0f} {total:>8.1f} "
            f"{built.file_bytes / 1e6:>10.0f} {per_million[-1]:>9.2f}"
        )
    return per_million[-2] / ((per_million[0] + per_million[-1]) / 2)


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
