"""Imports real connection records from CSV or JSON Lines files into the server's store.

    python -m ueba_server import FILE [FILE ...] --data-dir D [--replace]

One record per row (CSV, with a header) or per line (JSONL, one object each). Columns:

| column | required | meaning |
|---|---|---|
| `start_time` | yes | when the connection started: RFC 3339 (`2024-05-02T08:15:00Z`); no zone = UTC |
| `duration_seconds` | one of these two | how long the session lasted, seconds (number >= 0) |
| `end_time` | one of these two | when it ended (RFC 3339); the duration is `end_time - start_time` |
| `user` | yes | who connected (PrivX user or role holder) |
| `source_address` | yes | the client's IP address (IPv4 or IPv6) |
| `target_host` | yes | the host connected to |
| `target_account` | yes | the account used on the target |
| `protocol` | yes | `SSH`, `RDP`, `VNC`, `WEB`, `DB` (others are kept as given, upper-cased) |
| `is_anomaly` | no | a known label (`true`/`false`/`1`/`0`), for evaluation only; default false |

Other columns are ignored. A file with any bad record imports nothing, and the error names the file,
the record number (1 = the first record) and the column.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ueba_server.connections import ConnectionStore

CHUNK_ROWS = 200_000
TEXT_COLUMNS = ("user", "source_address", "target_host", "target_account", "protocol")
TRUE_TEXT = frozenset({"true", "1", "yes"})
FALSE_TEXT = frozenset({"false", "0", "no", ""})


class ImportProblem(ValueError):
    """A record that cannot be imported; the message names file, record and column."""


@dataclass(frozen=True)
class _Place:
    """Where a chunk of records comes from, to name a bad record."""

    path: Path
    first_record: int

    def problem(self, column: str, index: int, message: str) -> ImportProblem:
        return ImportProblem(f"{self.path}: record {self.first_record + index}: {column}: {message}")


def read_connection_file(path: Path) -> Iterator[pd.DataFrame]:
    """Frames of `connections.CONNECTION_COLUMNS`, validated, in chunks."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        chunks = pd.read_csv(path, dtype=str, keep_default_na=False, chunksize=CHUNK_ROWS)
    elif suffix in (".jsonl", ".ndjson"):
        chunks = pd.read_json(path, lines=True, dtype=False, chunksize=CHUNK_ROWS)
    else:
        raise ImportProblem(f"{path}: unknown file type {suffix!r}: use .csv or .jsonl")
    first_record = 1
    for chunk in chunks:
        yield _connections(chunk.reset_index(drop=True), _Place(path, first_record))
        first_record += len(chunk)


def import_files(store: ConnectionStore, paths: list[Path], *, replace: bool = False) -> int:
    """Imports every file in one transaction (`replace`: deleting the old connections in it too, so a
    failed import leaves them intact); returns the records written."""
    frames = [frame for path in paths for frame in read_connection_file(path)]
    return store.insert(frames, replace=replace)


def _connections(chunk: pd.DataFrame, place: _Place) -> pd.DataFrame:
    missing = [column for column in ("start_time", *TEXT_COLUMNS) if column not in chunk.columns]
    if "duration_seconds" not in chunk.columns and "end_time" not in chunk.columns:
        missing.append("duration_seconds or end_time")
    if missing:
        raise ImportProblem(f"{place.path}: missing column(s): {', '.join(missing)}")

    start = _timestamps(chunk, "start_time", place)
    if "duration_seconds" in chunk.columns:
        column = "duration_seconds"
        durations = pd.to_numeric(chunk[column], errors="coerce").to_numpy(dtype=np.float64)
    else:
        column = "end_time"
        durations = (_timestamps(chunk, column, place) - start) / 1e6
    bad = np.flatnonzero(~np.isfinite(durations) | (durations < 0))
    if len(bad):
        raise place.problem(column, int(bad[0]), "must give a duration of zero seconds or more")

    frame = pd.DataFrame({"start_us": start, "duration_seconds": durations})
    for name in TEXT_COLUMNS:
        frame[name] = _text(chunk, name, place)
    frame["protocol"] = frame["protocol"].str.upper()
    frame["is_anomaly"] = _labels(chunk, place)
    return frame


def _text(chunk: pd.DataFrame, column: str, place: _Place) -> np.ndarray:
    values = chunk[column].astype(str).str.strip()
    empty = np.flatnonzero((values == "").to_numpy() | chunk[column].isna().to_numpy())
    if len(empty):
        raise place.problem(column, int(empty[0]), "must not be empty")
    return values.to_numpy(dtype=object)


def _timestamps(chunk: pd.DataFrame, column: str, place: _Place) -> np.ndarray:
    """Microseconds since the epoch (UTC); a time without a zone is taken as UTC."""
    text = chunk[column].astype(str).str.strip()
    parsed = pd.to_datetime(text, utc=True, format="ISO8601", errors="coerce")
    bad = np.flatnonzero(parsed.isna().to_numpy())
    if len(bad):
        raise place.problem(column, int(bad[0]), f"not an RFC 3339 timestamp: {text.iloc[bad[0]]!r}")
    return parsed.dt.tz_convert(None).astype("datetime64[us]").astype(np.int64).to_numpy()


def _labels(chunk: pd.DataFrame, place: _Place) -> np.ndarray:
    if "is_anomaly" not in chunk.columns:
        return np.zeros(len(chunk), dtype=bool)
    text = chunk["is_anomaly"].astype(str).str.strip().str.lower().replace({"nan": "", "none": ""})
    unknown = np.flatnonzero(~text.isin(TRUE_TEXT | FALSE_TEXT).to_numpy())
    if len(unknown):
        raise place.problem("is_anomaly", int(unknown[0]), "must be true or false")
    return text.isin(TRUE_TEXT).to_numpy()
