"""Messages for the next run: `notify` queues one (it survives st.rerun and st.switch_page), `show_notices`
toasts them."""

from __future__ import annotations

import streamlit as st

# Session-state key owned by this module.
_NOTICES = "session.notices"


def notify(message: str, icon: str = ":material/check_circle:") -> None:
    """A message for the next run (it survives st.rerun and st.switch_page), shown by `show_notices`."""
    st.session_state.setdefault(_NOTICES, []).append((message, icon))


def show_notices() -> None:
    for message, icon in st.session_state.pop(_NOTICES, []):
        st.toast(message, icon=icon)
