"""Streamlit widgets shared by the pages: confirmation dialogs, dataset badges, quality hints, the bin-count
control and the periods editor."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import pandas as pd
import streamlit as st

from ueba_api.limits import DEFAULT_HISTOGRAM_BINS, MAX_HISTOGRAM_BINS, MIN_TRAINING_CONNECTIONS
from ueba_api.models import Dataset, Period, TrainingResult, enum_text
from ueba_api.periods import periods_to_frame
from ueba_api.quality import QualityHint, Severity

_PENDING_CONFIRMATION = "widgets.pending_confirmation"

STATUS_COLORS = {"SUCCESS": "green", "TRAINING": "blue", "FAILURE": "red"}


def confirm_button(
    label: str,
    *,
    key: str,
    title: str,
    message: str,
    confirm_label: str,
    on_confirm: Callable[[], bool],
    **button_options,
) -> None:
    """A button that asks in a dialog before acting.

    `on_confirm` runs when the user confirms; it shows its own errors and returns whether it succeeded.
    On success the whole app reruns (closing the dialog); on failure the dialog stays, with the error.
    Which confirmation is open lives in session state, so it survives the reruns the dialog causes; app.py
    closes it when the user goes to another page. `key` names what is to be confirmed (for an action on
    one dataset, with its id), so a confirmation left open never asks about something else.
    """
    if st.button(label, key=key, **button_options):
        st.session_state[_PENDING_CONFIRMATION] = key
    if st.session_state.get(_PENDING_CONFIRMATION) != key:
        return

    def body() -> None:
        st.markdown(message)
        cancel, confirm = st.columns(2)
        if cancel.button("Cancel", key=f"{key}:cancel", width="stretch"):
            close_confirmation()
            st.rerun()
        confirmed = confirm.button(confirm_label, key=f"{key}:confirm", type="primary", width="stretch")
        if confirmed and on_confirm():
            close_confirmation()
            st.rerun()

    st.dialog(title, on_dismiss=close_confirmation)(body)()


def close_confirmation() -> None:
    st.session_state.pop(_PENDING_CONFIRMATION, None)


def too_small_warning(connections: int | None) -> str:
    """A sentence for the Train dialog when the dataset is known to hold fewer connections than a training
    needs (the engine refuses it); empty otherwise."""
    if connections is None or connections >= MIN_TRAINING_CONNECTIONS:
        return ""
    return (f"\n\n**It holds only {connections:,} connections**, and a training needs at least "
            f"{MIN_TRAINING_CONNECTIONS:,}: PrivX will refuse it. Widen the range or exclude less first.")


def counted(count: int, noun: str) -> str:
    """"1 run", "3 runs": a count with its noun, for captions and messages."""
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def status_badge(result: TrainingResult | None) -> None:
    """A run's training status as a coloured badge; "never trained" for a dataset with no run."""
    if result is None:
        st.badge("never trained", color="gray")
        return
    status = enum_text(result.status)
    st.badge(status, color=STATUS_COLORS.get(status, "gray"))


def dataset_badges(dataset: Dataset) -> None:
    """A dataset's badges, the same on every page: active for inference (if it is), and its latest status."""
    if dataset.is_active:
        st.badge("active: used for inference", icon=":material/verified:", color="green")
    status_badge(dataset.latest_result)


# Each severity's Streamlit call, so quality.Severity stays free of Streamlit's function names.
_HINT_WIDGETS = {Severity.ERROR: st.error, Severity.WARNING: st.warning, Severity.INFO: st.info}


def quality_hint_list(hints: Iterable[QualityHint]) -> None:
    """The quality hints, most serious first, each coloured by its severity."""
    for hint in hints:
        _HINT_WIDGETS.get(hint.severity, st.info)(hint.message)


def bin_count_input(container, *, key: str, help: str) -> int:
    """The histogram's bin-count control (1 .. the API's maximum); the bin count to ask the API for."""
    container.number_input("Bins", min_value=1, max_value=MAX_HISTOGRAM_BINS, value=DEFAULT_HISTOGRAM_BINS,
                           step=10, key=key, help=help)
    return st.session_state.get(key, DEFAULT_HISTOGRAM_BINS)


def asked_bin_count(key: str) -> int | None:
    """The bin count the control under `key` holds, as a request parameter: None for the API's default, so
    the default listing is asked for as it is (and cached by the server) rather than by its number."""
    bins = st.session_state.get(key, DEFAULT_HISTOGRAM_BINS)
    return None if bins == DEFAULT_HISTOGRAM_BINS else bins


PERIOD_COLUMN_HELP = {"start": "When the excluded period starts (inclusive), UTC",
                      "end": "When the excluded period ends (exclusive), UTC"}


def utc_period_columns() -> dict[str, st.column_config.DatetimeColumn]:
    return {
        name: st.column_config.DatetimeColumn(
            f"{name.capitalize()} (UTC)", format="YYYY-MM-DD HH:mm", step=60, required=True, help=help_text
        )
        for name, help_text in PERIOD_COLUMN_HELP.items()
    }


class PeriodsEditor:
    """An editable table of periods (rows can be added and removed), as `st.data_editor` keeps it.

    The editor's source frame stays the same between reruns (feeding its output back in loses edits,
    streamlit#7749); `replace` swaps in new periods (after a load or a merge) by starting a fresh editor.
    The editor shows naive UTC wall times, labelled UTC: the browser's date picker then never applies
    the viewer's own time zone.
    """

    def __init__(self, key: str) -> None:
        self.key = key

    @property
    def _source_key(self) -> str:
        return f"{self.key}.source"

    @property
    def _version_key(self) -> str:
        return f"{self.key}.version"

    def replace(self, periods: Iterable[Period]) -> None:
        frame = periods_to_frame(periods)
        for name in ("start", "end"):
            frame[name] = frame[name].dt.tz_localize(None)
        st.session_state[self._source_key] = frame
        st.session_state[self._version_key] = st.session_state.get(self._version_key, 0) + 1

    def loaded(self) -> bool:
        return self._source_key in st.session_state

    def show(self) -> pd.DataFrame:
        """Draw the editor; the frame as edited (columns start, end; naive = UTC)."""
        return st.data_editor(
            st.session_state[self._source_key],
            key=f"{self.key}.editor.{st.session_state[self._version_key]}",
            num_rows="dynamic",
            hide_index=True,
            width="stretch",
            column_config=utc_period_columns(),
        )
