"""The sidebar's server badge: which server the app is on, and its health."""

from __future__ import annotations

import streamlit as st

from ueba_api.errors import ApiConnectionError, UebaError
from ueba_api.models import enum_text
from ui.calls import get_client_or_raise, server_status
from ui.targets import SettingsProblem, current_target

STATE_COLORS = {"RUNNING": "green", "WARNING": "orange", "PENDING": "blue", "ERROR": "red"}


def server_badge() -> None:
    """Which server the app is on, and its health, in the sidebar (starting the embedded one if need be)."""
    with st.sidebar:
        try:
            target = current_target()
            st.caption("Server")
            st.markdown(f"**{target.label}**")
            st.caption(target.source)
            status = server_status(get_client_or_raise())
        except SettingsProblem as problem:
            st.badge("not available", icon=":material/settings_alert:", color="red", help=str(problem))
        except ApiConnectionError as error:
            st.badge("unreachable", icon=":material/cloud_off:", color="red", help=str(error))
        except UebaError as error:
            st.badge("error", icon=":material/error:", color="red", help=str(error))
        else:
            state = enum_text(status.status) or "unknown"
            version = f" · version {status.version}" if status.version else ""
            st.badge(f"{state}{version}", color=STATE_COLORS.get(state, "gray"), help=status.status_message)
