"""Which server the app talks to, and where its settings come from; first match wins:
1. the Connection page (this browser session only): a PrivX, or "the embedded server";
2. the `[privx]` section of `.streamlit/secrets.toml`;
3. the `PRIVX_API_*` environment variables (when `PRIVX_API_BASE_URL` is set);
4. otherwise the embedded reference server (ui/embedded.py), started on first use and kept for the
   process.

Switching server (`use_settings`, `use_embedded_server`) drops the cached answers, so it lives in
ui/calls.py.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import streamlit as st
from pydantic import ValidationError
from streamlit.errors import StreamlitSecretNotFoundError

from ueba_api.settings import ClientSettings

SECRETS_SECTION = "privx"
EMBEDDED = "embedded"

# Session-state key owned by this module (written by ui/calls.py's `use_settings`, `use_embedded_server`).
_CHOSEN_SETTINGS = "session.chosen_settings"


class SettingsProblem(Exception):
    """Settings that cannot make a client; the message names the field and where it came from."""


@dataclass(frozen=True)
class Target:
    """The server the app talks to."""

    kind: str
    """"embedded" or "privx"."""
    source: str
    """Where the settings came from, as a sentence: "From secrets.toml.", ..."""
    settings: ClientSettings | None = None
    """None for the embedded server, whose settings exist once it runs (`active_settings`)."""

    @property
    def label(self) -> str:
        if self.kind == EMBEDDED:
            return "Embedded reference server"
        return f"PrivX at {self.settings.base_url}" if self.settings else "PrivX"


def describe_validation_error(error: ValidationError, labels: Mapping[str, str] | None = None) -> str:
    """Pydantic's errors as one sentence per field, e.g. `Base URL: must be an http(s) URL ...`.

    `labels` maps field names to what the user sees; the value given is never repeated (it may be a secret).
    """
    labels = labels or {}
    sentences = []
    for problem in error.errors():
        field = ".".join(str(part) for part in problem["loc"])
        message = problem["msg"].removeprefix("Value error, ")
        if problem["type"] == "extra_forbidden":
            message = "is not a setting this app knows"
        name = labels.get(field, field)
        sentences.append(f"{name}: {message}" if name else message)
    return "; ".join(sentences)


def settings_from(values: Mapping[str, Any], where: str, labels: Mapping[str, str] | None = None
                  ) -> ClientSettings:
    """ClientSettings from a mapping; empty values count as unset; problems raise SettingsProblem."""
    given = {name: value for name, value in values.items() if value not in (None, "")}
    try:
        return ClientSettings.model_validate(given)
    except ValidationError as error:
        raise SettingsProblem(
            f"The settings in {where} are not usable. {describe_validation_error(error, labels)}."
        ) from None


def secrets_section() -> dict[str, Any]:
    """The `[privx]` section of secrets.toml; empty when there is no secrets file at all."""
    try:
        section = st.secrets.get(SECRETS_SECTION)
    except (StreamlitSecretNotFoundError, FileNotFoundError):
        return {}
    return dict(section) if section else {}


def configured_target() -> Target:
    """What secrets.toml or the environment configure, or the embedded server."""
    section = secrets_section()
    if section:
        return Target("privx", "From secrets.toml.",
                      settings_from(section, f"secrets.toml [{SECRETS_SECTION}]"))
    if os.environ.get("PRIVX_API_BASE_URL", "").strip():
        try:
            return Target("privx", "From the PRIVX_API_* variables.", ClientSettings.from_env())
        except ValidationError as error:
            raise SettingsProblem(
                f"The PRIVX_API_* environment variables are not usable. {describe_validation_error(error)}."
            ) from None
    return Target(EMBEDDED, "Started by this app: no PrivX is configured.")


def current_target() -> Target:
    """The server this session talks to (see the module docstring)."""
    chosen = st.session_state.get(_CHOSEN_SETTINGS)
    if chosen == EMBEDDED:
        return Target(EMBEDDED, "Chosen on the Connection page.")
    if isinstance(chosen, ClientSettings):
        return Target("privx", "Chosen on the Connection page.", chosen)
    return configured_target()
