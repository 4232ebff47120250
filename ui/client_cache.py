"""The cached UebaClient, one per settings in use.

The app's clients give up on connecting sooner than a notebook's (`interactive_options`, applied with
`UebaClient.with_options` to the one cached client per settings), as someone is waiting on every call;
settings that name a `connect_timeout` or `max_retries` keep theirs.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import streamlit as st
from pydantic import SecretStr

from ueba_api.client import UebaClient
from ueba_api.settings import ClientSettings, reveal

# Client settings for the app unless the user's own settings name them: a person waits on each call, so
# an address that drops packets fails after 2 x 5 s instead of the library's 3 x 10 s.
INTERACTIVE_CONNECT_TIMEOUT = 5.0
INTERACTIVE_MAX_RETRIES = 1
# Clients kept at once (one per settings in use: the embedded server, a PrivX or two being tried).
# An evicted client is closed; a session still on those settings gets a new one on its next run.
MAX_CLIENTS = 8


def interactive_options(settings: ClientSettings) -> dict[str, Any]:
    """What the app changes in `settings`: where they leave `connect_timeout` or `max_retries` unset,
    `INTERACTIVE_CONNECT_TIMEOUT` (or the settings' own connect limit, if shorter) and
    `INTERACTIVE_MAX_RETRIES`."""
    given = settings.model_fields_set
    update: dict[str, Any] = {}
    if "connect_timeout" not in given:
        own = settings.http_timeout().connect  # None: no limit
        update["connect_timeout"] = min(INTERACTIVE_CONNECT_TIMEOUT, own or INTERACTIVE_CONNECT_TIMEOUT)
    if "max_retries" not in given:
        update["max_retries"] = INTERACTIVE_MAX_RETRIES
    return update


def interactive(settings: ClientSettings) -> ClientSettings:
    """The settings as the app uses them (`interactive_options`), for a client of its own."""
    return settings.model_copy(update=interactive_options(settings))


def client_for(settings: ClientSettings) -> UebaClient:
    """The cached client for `settings`, as a `with_options` copy with the app's shorter limits: it shares
    the cached client's connection pool and login."""
    return _client_for(fingerprint(settings), settings).with_options(**interactive_options(settings))


def forget_client(settings: ClientSettings | None = None) -> None:
    """Drop (and close) the cached client for `settings` (e.g. of a server that was replaced); all of
    them when None."""
    if settings is None:
        _client_for.clear()
    else:
        _client_for.clear(fingerprint(settings), None)


def fingerprint(settings: ClientSettings) -> str:
    """A cache key for settings, secrets included; a hash, so no secret lands in a cache's key."""
    fields = {name: reveal(value) if isinstance(value, SecretStr) else value for name, value in settings}
    return hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()


@st.cache_resource(show_spinner=False, max_entries=MAX_CLIENTS, on_release=lambda client: client.close())
def _client_for(settings_fingerprint: str, _settings: ClientSettings) -> UebaClient:
    return UebaClient.from_settings(_settings)
