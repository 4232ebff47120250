"""Cached reads the review pages share: the list of datasets, a run's finest histogram, a run's log.

The list of datasets is what every page picks from, and on a real PrivX it is the heaviest answer there
is: the API lists every run's losses per epoch (it has no way to leave them out), so 1,000 datasets with
long histories come to hundreds of MB. It is asked for once per server with as little as the API allows
(`logs=false`, one histogram bin), kept slim (`review.listed`: names, badges and runs' statuses, no
series) and shared by every page and session for `LISTING_TTL_SECONDS`; after that the old list is
served while a new one loads in the background. A write clears it (`forget_listing`, for the pages that
write), and so does the end of any training, whoever started it: at most every `CHECK_SECONDS` the list
is compared with `/status/internal` (each dataset's latest run and its status, ~100 bytes a dataset).

Keys hold a hash of the session's settings (credentials included), so a session never reads what
another one's credentials fetched.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import NamedTuple

import pandas as pd
import streamlit as st

from ueba_api import frames, review
from ueba_api.client import UebaClient
from ueba_api.limits import MAX_HISTOGRAM_BINS
from ueba_api.models import Dataset, Histogram, InternalStatus, TrainingResult, TrainingStatus
from ui import server

LISTING_TTL_SECONDS = 60
# How often the list is checked against /status/internal (which grows by ~100 bytes a dataset): a page
# rerun within this time asks the server for nothing about the list.
CHECK_SECONDS = 10
# A listing has no use for a histogram; 1 is the fewest bins the API allows.
LISTING_BIN_COUNT = 1
# Finished runs never change: their histograms and logs are kept until evicted.
KEPT_RUNS = 64


Listing = tuple[Dataset, ...]
# The latest listing's table (`table`): shared by sessions as the listing is; replaced whole, never changed.
_listing_table: tuple[Listing, pd.DataFrame] | None = None


class _Fetched(NamedTuple):
    datasets: Listing
    runs: frozenset
    """`review.listed_runs` of the datasets: made once per listing, not per page run."""
    at: datetime


def _server_key() -> str:
    return server.settings_key()


# A resource cache, not st.cache_data: cache_data hands out a pickled copy on every hit, and unpickling
# 1,000 datasets x 20 runs takes 0.77 s (min of 5, this 2-core machine), more than the rest of a page
# rerun. The list is shared as it is: a tuple, whose datasets no page changes.
@st.cache_resource(ttl=LISTING_TTL_SECONDS, show_spinner=False, refresh_mode="background", max_entries=16)
def _cached_listing(server_key: str, _client: UebaClient) -> _Fetched:
    at = datetime.now(UTC)
    listed = tuple(review.listed(_client.list_datasets(logs=False, bin_count=LISTING_BIN_COUNT).items))
    return _Fetched(listed, review.listed_runs(listed), at)


@st.cache_data(ttl=CHECK_SECONDS, show_spinner=False, max_entries=16)
def _cached_internal_status(server_key: str, _client: UebaClient) -> InternalStatus | None:
    return _client.get_internal_status()


def datasets(client: UebaClient, *,
             wait: Callable[[Callable[[], Listing]], Listing] | None = None) -> Listing:
    """Every dataset, slim (`review.listed`), from the shared cache (read only: every session gets the
    same objects); UebaError as the client raises it. `wait` runs the fetch (e.g. `calls.wait_for`, which
    lets the user stop waiting for a hung server); it gets a call that touches no session state."""
    key = _server_key()

    def fetch() -> Listing:
        return _cached_listing(key, client).datasets

    with st.spinner(f"Loading the list of datasets from {client.base_url}…"):
        listed = wait(fetch) if wait else fetch()
        runs = _cached_listing(key, client).runs  # the same cache entry: no second fetch
        unknown = review.finished_runs_unknown(runs, _cached_internal_status(key, client))
        refetched_for = _refetched_for(key)
        if unknown - refetched_for:
            # A training has ended since: its dataset's runs and badges changed. Once per such run, so
            # a server whose two answers never agree does not cost a whole list at every page run.
            refetched_for |= unknown
            forget_listing()
            listed = wait(fetch) if wait else fetch()
    return listed


@st.cache_resource(show_spinner=False, max_entries=16)
def _refetched_for(server_key: str) -> set[str]:
    """The server's ids of the finished runs the list was fetched again for."""
    return set()


def listed_at(client: UebaClient, listed: Listing) -> datetime | None:
    """When `listed` (what `datasets` gave) was asked for, in UTC: how old what a page shows is. None
    once the cache holds a newer listing (a refresh in the background may land in between)."""
    fetched = _cached_listing(_server_key(), client)
    return fetched.at if fetched.datasets is listed else None


def table(listed: Listing, connections: Mapping[str, int]) -> pd.DataFrame:
    """`frames.datasets_table(listed, connections)`, its rows built once per listing (10 ms for 1,000
    datasets, a fifth of the Datasets page's rerun) and given the counts known at each run. The listing
    is held with its table, so a listing fetched since (whose rows may differ) never gets it."""
    global _listing_table
    held = _listing_table
    if held is None or held[0] is not listed:
        held = _listing_table = (listed, frames.datasets_table(listed))
    return frames.with_connections(held[1], connections)


def forget_listing() -> None:
    """Drop the cached list of datasets: call it after any write (create, update, delete, activate), so
    every page lists what the server now holds."""
    _cached_listing.clear()


def _fetch_result(client: UebaClient, dataset_id: str, number: int, *, logs: bool) -> TrainingResult | None:
    # A log needs no histogram (1 bin); a histogram is asked for with the most bins there are.
    dataset = client.get_dataset(dataset_id, logs=logs, bin_count=1 if logs else MAX_HISTOGRAM_BINS)
    return dataset.training_results[number - 1] if len(dataset.training_results) >= number else None


@st.cache_data(show_spinner=False, max_entries=KEPT_RUNS)
def _finished_result(server_key: str, dataset_id: str, number: int, created: str, logs: bool,
                     _client: UebaClient) -> TrainingResult | None:
    result = _fetch_result(_client, dataset_id, number, logs=logs)
    if result is None or result.created is None or result.created.isoformat() != created:
        return None  # the history was emptied and trained again since: not the run asked about
    return result


def _result_read(client: UebaClient, dataset: Dataset, number: int, *, logs: bool) -> TrainingResult | None:
    """Run `number` of the dataset fetched again: cached once it has ended, as it no longer changes."""
    result = dataset.training_results[number - 1]
    if result.status == TrainingStatus.TRAINING or result.created is None:
        return _fetch_result(client, dataset.id or "", number, logs=logs)
    return _finished_result(_server_key(), dataset.id or "", number, result.created.isoformat(), logs, client)


def finest_histogram(client: UebaClient, dataset: Dataset, number: int) -> Histogram | None:
    """Run `number`'s validation histogram with the most bins the API gives (`MAX_HISTOGRAM_BINS`),
    whatever a chart shows: what the threshold explorer reads."""
    with st.spinner(f"Loading the {MAX_HISTOGRAM_BINS:,}-bin histogram of run #{number}…"):
        result = _result_read(client, dataset, number, logs=False)
    return result.validation_dataset_histogram if result else None


def run_log(client: UebaClient, dataset: Dataset, number: int) -> str | None:
    """Run `number`'s training log, asked for only when someone opens it (logs are long)."""
    with st.spinner(f"Loading the log of run #{number}…"):
        result = _result_read(client, dataset, number, logs=True)
    return result.training_log if result else None
