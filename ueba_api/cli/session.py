"""Which server a command talks to: the `PRIVX_API_*` variables, overridden by options, or an embedded
reference server started for the command (`--embedded DATA_DIR`).

A secret given as an option may be written `@FILE` (read from that file) or `-` (read from stdin), so it
stays out of shell history and of `ps`. No secret is ever printed: settings hold them as `SecretStr`, and
the error messages here name the option, never its value.
"""

from __future__ import annotations

import sys
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from ueba_api.cli.problems import UsageProblem, validation_sentence
from ueba_api.client import UebaClient
from ueba_api.settings import ClientSettings

if TYPE_CHECKING:
    from ueba_server.launch import RunningServer

SECRET_OPTIONS = ("token", "client_secret", "oauth_client_secret")
STDIN = "-"


def read_secret(option: str, value: str | None, *, stdin_used: list[str]) -> str | None:
    """The secret itself from `value`, `@FILE` or `-` (stdin, for one option only)."""
    if value is None:
        return None
    flag = "--" + option.replace("_", "-")
    if value == STDIN:
        if stdin_used:
            raise UsageProblem(f"{flag}: stdin is already read for --{stdin_used[0].replace('_', '-')}")
        stdin_used.append(option)
        text = sys.stdin.readline()
    elif value.startswith("@"):
        path = Path(value[1:]).expanduser()
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as error:
            raise UsageProblem(f"{flag}: cannot read {path} ({error.strerror or error})") from None
    else:
        return value
    secret = text.strip()
    if not secret:
        raise UsageProblem(f"{flag}: the {'input' if value == STDIN else 'file'} holds no secret")
    return secret


@dataclass
class Session:
    """The connection options of one command; `client()` connects on first use, `close()` ends it all."""

    options: dict[str, Any]
    embedded: Path | None = None
    embedded_connections: int | None = None
    _client: UebaClient | None = None
    _server: RunningServer | None = None
    _resources: ExitStack = field(default_factory=ExitStack)

    def settings(self) -> ClientSettings:
        given = {name: value for name, value in self.options.items() if value is not None}
        stdin_used: list[str] = []
        for name in SECRET_OPTIONS:
            if name in given:
                given[name] = read_secret(name, given[name], stdin_used=stdin_used)
        try:
            return ClientSettings.from_env(**given)
        except ValidationError as error:
            raise UsageProblem(
                "connection settings: "
                + validation_sentence(error)
                + " (set PRIVX_API_BASE_URL and credentials, give the options, or use --embedded DATA_DIR)"
            ) from None

    def client(self) -> UebaClient:
        if self._client is None:
            if self.embedded is not None:
                self._server = self._resources.enter_context(self._start_embedded())
                self._client = self._resources.enter_context(self._server.client())
            else:
                self._client = self._resources.enter_context(UebaClient.from_settings(self.settings()))
        return self._client

    def _start_embedded(self) -> RunningServer:
        # Lazily, and only here: the reference server is an optional wing (pip install .[server]), needed only
        # for --embedded; the library itself never imports it.
        try:
            from ueba_server.launch import start_server
        except ModuleNotFoundError:
            raise UsageProblem(
                "--embedded needs the reference server, which is not installed: "
                "pip install 'ueba-notebook[server]'"
            ) from None

        print(f"Starting the embedded reference server in {self.embedded} ...", file=sys.stderr)
        return start_server(self.embedded, connections=self.embedded_connections)

    def close(self) -> None:
        self._resources.close()
