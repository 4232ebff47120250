"""Moving between pages: page paths, the `?dataset=<id>` parameter, page-change tracking, and the trainings
this session follows from page to page (a run's end is announced on whichever page sees it)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import NoReturn

import streamlit as st

from ueba_api import review
from ueba_api.frames import Run
from ueba_api.models import Dataset, TrainingResult, TrainingStatus
from ui.text import plain

DATASETS_PAGE = "pages/datasets.py"
EDITOR_PAGE = "pages/dataset_editor.py"
TRAINING_PAGE = "pages/training.py"
CONNECTION_PAGE = "pages/connection.py"

DATASET_QUERY_PARAM = "dataset"

# Session-state keys owned by this module.
_CURRENT_PAGE = "session.current_page"
# dataset id -> the 1-based number of the run this session saw TRAINING (or started), to announce its end.
_WATCHED_RUNS = "session.watched_runs"


# Following trainings


def watch_run(dataset_id: str, number: int) -> None:
    """Announce the end of run `number` (1-based) of a dataset, even if no page sees it training."""
    st.session_state.setdefault(_WATCHED_RUNS, {})[dataset_id] = number


def follow_trainings(datasets: Dataset | Iterable[Dataset], *, complete: bool = False,
                     ended_result: Callable[[Run], TrainingResult] | None = None) -> review.FollowUp:
    """`review.follow_training` on this session's watched runs: toasts each watched run that ended.

    The watch list is shared by the pages, so a run's end is announced once, on whichever page sees it.
    `ended_result` reads an ended run in full, for datasets from a slim listing (`review.listed`), whose
    runs have no losses to count epochs from.
    """
    follow = review.follow_training(st.session_state.get(_WATCHED_RUNS, {}), datasets, complete=complete)
    st.session_state[_WATCHED_RUNS] = follow.watched
    for run in follow.ended:
        result = ended_result(run) if ended_result else run.result
        failed = result.status == TrainingStatus.FAILURE
        st.toast(review.finished_message(plain(run.label), result),
                 icon=":material/error:" if failed else ":material/check_circle:")
    return follow


# Navigation


def entered_page(page_key: str) -> bool:
    """Whether this run shows another page than the session's previous run (or is its first)."""
    previous = st.session_state.get(_CURRENT_PAGE)
    st.session_state[_CURRENT_PAGE] = page_key
    return previous != page_key


def dataset_id_from_query() -> str | None:
    """The `?dataset=<id>` of the current URL, or None."""
    value = st.query_params.get(DATASET_QUERY_PARAM, "").strip()
    return value or None


def open_dataset(dataset_id: str, page: str = EDITOR_PAGE) -> NoReturn:
    """Go to a page about one dataset: the editor, or the training review."""
    st.switch_page(page, query_params={DATASET_QUERY_PARAM: dataset_id})


def set_dataset_in_url(dataset_id: str) -> None:
    st.query_params[DATASET_QUERY_PARAM] = dataset_id
