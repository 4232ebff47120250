"""How fast the connection generator and the SQLite import are, from the default size to 10M.

    python -m bench.generator_benchmark [--sizes 150000 1000000 10000000]

Prints, per size, seconds to generate and to insert, rows per second, the store's size on disk, and
the cost per million rows relative to the smallest size (1.00 = scales linearly).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from bench import benchmark_parser
from bench.stores import build_store


def main() -> None:
    parser = benchmark_parser(__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[150_000, 1_000_000, 10_000_000])
    options = parser.parse_args()

    print(f"{'rows':>11} {'generate s':>11} {'gen rows/s':>11} {'insert s':>9} {'ins rows/s':>11} "
          f"{'total s':>8} {'MB on disk':>10} {'s/M rows vs first':>18}")  # fmt: skip
    baseline = None
    for size in options.sizes:
        with tempfile.TemporaryDirectory(prefix="ueba-bench-") as data_dir:
            built = build_store(Path(data_dir), size)
        total = built.generate_seconds + built.insert_seconds
        per_million = total / (size / 1e6)
        baseline = baseline or per_million
        print(
            f"{size:>11,} {built.generate_seconds:>11.2f} {size / built.generate_seconds:>11,.0f} "
            f"{built.insert_seconds:>9.2f} {size / built.insert_seconds:>11,.0f} {total:>8.1f} "
            f"{built.file_bytes / 1e6:>10.0f} {per_million / baseline:>18.2f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
