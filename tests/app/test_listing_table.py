"""The Datasets page's table, built once per listing of datasets and given the counts known at each run."""

from __future__ import annotations

from datetime import UTC, datetime
from unittest import mock

import pandas as pd

from ueba_api import frames
from ueba_api.models import Dataset, TimeRange
from ui import listing


def a_listing(*comments: str) -> listing.Listing:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    return tuple(Dataset(id=f"id-{comment}", comment=comment, time_range_settings=TimeRange(start=start))
                 for comment in comments)


def test_a_listing_is_tabled_once_and_each_run_gets_its_own_counts() -> None:
    listed = a_listing("a", "b")
    with mock.patch.object(frames, "datasets_table", wraps=frames.datasets_table) as build:
        first = listing.table(listed, {"id-a": 5})
        second = listing.table(listed, {"id-b": 7})
    assert build.call_count == 1
    pd.testing.assert_frame_equal(first, frames.datasets_table(listed, {"id-a": 5}))
    pd.testing.assert_frame_equal(second, frames.datasets_table(listed, {"id-b": 7}))
    first["comment"] = "changed by a page"  # a page's own copy: the next run's table is as listed
    assert list(listing.table(listed, {})["comment"]) == ["a", "b"]


def test_a_listing_fetched_since_gets_its_own_rows_even_when_equal_in_size() -> None:
    listing.table(a_listing("a", "b"), {})
    fetched_since = a_listing("c", "d")
    assert list(listing.table(fetched_since, {})["id"]) == ["id-c", "id-d"]
