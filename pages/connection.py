"""Connection: which server the app talks to; switch to a real PrivX, test it, or go back to the embedded."""

import streamlit as st

import ui.bootstrap  # noqa: F401  (first: the legacy pages/ folder workaround)
from ueba_api.access import Access, check_access
from ueba_api.client import UebaClient
from ueba_api.errors import UebaError
from ueba_api.models import enum_text
from ueba_api.settings import DEFAULT_OAUTH_CLIENT_ID, ClientSettings
from ui import calls, server
from ui.text import plain

AUTH_CLIENT = "API client credentials"
AUTH_TOKEN = "Bearer token"
SECRET_FIELDS = {"client_secret": "API client secret", "oauth_client_secret": "OAuth client secret",
                 "token": "Bearer token"}
FIELD_LABELS = {"base_url": "Base URL", "client_id": "API client ID", "oauth_client_id": "OAuth client ID",
                "ca_cert": "CA certificate", **SECRET_FIELDS}
KEY = "connection."
OUTCOME = KEY + "outcome"


def current_privx() -> ClientSettings | None:
    """The PrivX settings in use, if the app is on a PrivX (their secrets fill fields left empty)."""
    try:
        return server.current_target().settings
    except server.SettingsProblem:
        return None


def typed_settings() -> ClientSettings:
    """The form's settings; SettingsProblem naming the form's fields if they do not make a client."""
    value = st.session_state.get
    uploaded = value(KEY + "ca_upload")
    ca_cert = uploaded.getvalue().decode("utf-8", "replace") if uploaded else value(KEY + "ca_paste", "")
    fields = {"base_url": value(KEY + "base_url", ""), "ca_cert": ca_cert}
    if value(KEY + "auth") == AUTH_TOKEN:
        fields["token"] = value(KEY + "token", "")
    else:
        fields |= {name: value(KEY + name, "") for name in
                   ("client_id", "client_secret", "oauth_client_id", "oauth_client_secret")}
    # A secret left empty keeps the one in use, so changing e.g. only the CA needs no retyping.
    previous = current_privx()
    if previous is not None:
        for name in SECRET_FIELDS:
            if name in fields and not fields[name] and getattr(previous, name) is not None:
                fields[name] = getattr(previous, name)
    return server.settings_from(fields, "the form", labels=FIELD_LABELS)


def refusal(access: Access) -> str | None:
    """Why these credentials cannot be used (the server's own sentence), or None."""
    if access.signed_in and access.can_view:
        return None
    return access.refusal or access.summary.capitalize() + "."


def connect() -> None:
    """Switch to the typed PrivX once it lets these credentials read, and empty the secret fields: they are
    never shown again."""
    try:
        settings = typed_settings()
        with server.temporary_client(settings) as client:
            access = check_access(client)
    except server.SettingsProblem as problem:
        st.session_state[OUTCOME] = ("error", str(problem))
        return
    except UebaError as error:
        st.session_state[OUTCOME] = ("error", f"Not connected. {error}")
        return
    refused = refusal(access)
    if refused:
        st.session_state[OUTCOME] = ("error", f"Not connected. {refused}")
        return
    server.use_settings(settings)
    for name in SECRET_FIELDS:
        st.session_state[KEY + name] = ""
    view_only = "" if access.can_manage is not False else (
        " These credentials may only view: saving, training and activating are disabled.")
    st.session_state[OUTCOME] = ("success", f"Now using PrivX at {settings.base_url}, {access.summary}."
                                 + view_only)


def back_to_embedded() -> None:
    server.use_embedded_server()
    st.session_state[OUTCOME] = ("success", "Now using the embedded reference server.")


def show_status(client: UebaClient) -> None:
    """The server's /status, and what these credentials may do there; refused credentials as an error."""
    status = client.get_status()
    access = check_access(client)
    refused = refusal(access)
    if refused:
        st.error(f"The server answers, but refuses these credentials: {refused}", icon=":material/lock:")
        return
    state = enum_text(status.status) or "unknown"
    message = f" — {status.status_message}" if status.status_message else ""
    st.success(f"The server answers: **{state}**{message}. {access.summary.capitalize()}.",
               icon=":material/check_circle:")
    facts = {"Version": status.version, "API version": status.api_version, "App id": status.app_id,
             "Started (UTC)": status.start_time.strftime("%Y-%m-%d %H:%M") if status.start_time else None}
    facts |= {f"{detail.k}": detail.v for detail in status.status_details if detail.k}
    st.table({name: str(value) for name, value in facts.items() if value is not None})
    for issue in status.issues:
        st.warning(f"{issue.severity or 'Issue'}: {issue.message or issue.code}", icon=":material/warning:")


st.title("Connection")

# Where the app is now
try:
    target = server.current_target()
except server.SettingsProblem as problem:
    target = None
    st.error(plain(str(problem)), icon=":material/settings_alert:")
if target is not None:
    st.markdown(f"Using **{target.label}**. {target.source}")
    if target.settings is not None:
        secrets_state = ", ".join(f"{label}: {'set' if getattr(target.settings, name) else 'not set'}"
                                  for name, label in SECRET_FIELDS.items())
        st.caption(f"{secrets_state}. CA certificate: {'set' if target.settings.ca_cert else 'not set'}.")
    if st.button("Test this connection", key=KEY + "test_current", icon=":material/network_check:"):
        with calls.api_call("test the connection"):
            show_status(calls.get_client())
if target is None or target.kind != server.EMBEDDED:
    st.button("Back to the embedded server", key=KEY + "embedded", icon=":material/home:",
              on_click=back_to_embedded)

# A PrivX
st.subheader("Connect to PrivX")
st.caption("The same settings can come from `.streamlit/secrets.toml` ([privx] section) or the PRIVX_API_* "
           "environment variables. Secrets typed here are kept for this browser session only, and never "
           "shown.")
previous = current_privx()
if KEY + "base_url" not in st.session_state and previous is not None:
    st.session_state.update({KEY + "base_url": previous.base_url, KEY + "client_id": previous.client_id or "",
                             KEY + "oauth_client_id": previous.oauth_client_id})
st.session_state.setdefault(KEY + "oauth_client_id", DEFAULT_OAUTH_CLIENT_ID)
st.text_input("Base URL", key=KEY + "base_url", placeholder="https://privx.example.com")
auth = st.radio("Authentication", [AUTH_CLIENT, AUTH_TOKEN], key=KEY + "auth", horizontal=True)
keep_hint = "Leave empty to keep the current one." if previous is not None else None
if auth == AUTH_TOKEN:
    st.text_input("Bearer token", key=KEY + "token", type="password", help=keep_hint)
else:
    left, right = st.columns(2)
    left.text_input("API client ID", key=KEY + "client_id")
    right.text_input("API client secret", key=KEY + "client_secret", type="password", help=keep_hint)
    left.text_input("OAuth client ID", key=KEY + "oauth_client_id")
    right.text_input("OAuth client secret", key=KEY + "oauth_client_secret", type="password", help=keep_hint)
with st.expander("CA certificate (PrivX's own CA, PEM)"):
    st.file_uploader("Upload the CA certificate", key=KEY + "ca_upload", type=["pem", "crt", "cer"])
    st.text_area("…or paste it", key=KEY + "ca_paste", placeholder="-----BEGIN CERTIFICATE-----", height=120)

with st.container(horizontal=True):
    test_clicked = st.button("Test connection", key=KEY + "test", icon=":material/network_check:")
    st.button("Connect", key=KEY + "connect", type="primary", icon=":material/link:", on_click=connect)

if test_clicked:
    try:
        settings = typed_settings()
    except server.SettingsProblem as problem:
        st.error(plain(str(problem)), icon=":material/error:")
    else:
        with server.temporary_client(settings) as client:
            try:
                show_status(client)
            except UebaError as error:
                st.error(plain(str(error)), icon=":material/error:")

kind, message = st.session_state.pop(OUTCOME, (None, None))
if kind == "error":
    st.error(plain(message), icon=":material/error:")
elif kind == "success":
    st.success(message, icon=":material/check_circle:")
