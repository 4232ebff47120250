"""The sidebar's server badge: which server the app is on, its health, and what this session may do there."""

from __future__ import annotations

import streamlit as st

from ueba_api.errors import ApiConnectionError, UebaError
from ueba_api.models import enum_text
from ui import server
from ui.calls import server_status

STATE_COLORS = {"RUNNING": "green", "WARNING": "orange", "PENDING": "blue", "ERROR": "red"}


def server_badge() -> None:
    """Which server the app is on, its health, and whether this session is signed in and may view and
    manage there (starting the embedded server if need be)."""
    with st.sidebar:
        try:
            target = server.current_target()
            st.caption("Server")
            st.markdown(f"**{target.label}**")
            st.caption(target.source)
            status, access = server_status(server.client())
        except server.SettingsProblem as problem:
            st.badge("not available", icon=":material/settings_alert:", color="red", help=str(problem))
        except ApiConnectionError as error:
            st.badge("unreachable", icon=":material/cloud_off:", color="red", help=str(error))
        except UebaError as error:
            st.badge("error", icon=":material/error:", color="red", help=str(error))
        else:
            state = enum_text(status.status) or "unknown"
            version = f" · version {status.version}" if status.version else ""
            with st.container(horizontal=True):
                st.badge(f"{state}{version}", color=STATE_COLORS.get(state, "gray"),
                         help=status.status_message)
                if access.can_manage:
                    color, icon = "green", ":material/verified_user:"
                elif access.can_view:
                    color, icon = "orange", ":material/visibility:"
                else:
                    color, icon = "red", ":material/lock:"
                st.badge(access.summary, color=color, icon=icon, help=access.refusal)
