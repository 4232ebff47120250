"""Fixtures of the client tests: a client wired to a scripted fake server, and the sleep recorder."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from ueba_api import UebaClient

from .fakes import (
    BASE_URL,
    PASSWORD_GRANT_LOGIN,
    STATIC_TOKEN_LOGIN,
    Answer,
    ClientFactory,
    FakeServer,
    SleepRecorder,
)


@pytest.fixture
def sleeps() -> SleepRecorder:
    return SleepRecorder()


@pytest.fixture
def make_client(sleeps: SleepRecorder) -> Iterator[ClientFactory]:
    """`make_client(*answers, oauth=False, **client_options)` -> (client, its fake server).

    The client logs in with a static bearer token, or with `oauth=True` through the password grant;
    retry pauses go to the `sleeps` recorder instead of sleeping.
    """
    clients: list[UebaClient] = []

    def make(*answers: Answer, oauth: bool = False, **options: Any) -> tuple[UebaClient, FakeServer]:
        server = FakeServer(list(answers))
        login = PASSWORD_GRANT_LOGIN if oauth else STATIC_TOKEN_LOGIN
        client = UebaClient(
            BASE_URL, transport=httpx.MockTransport(server), **{**login, "_sleep": sleeps, **options}
        )
        clients.append(client)
        return client, server

    yield make
    for client in clients:
        client.close()
