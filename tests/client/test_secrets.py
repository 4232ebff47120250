"""No secret (client secrets, tokens) in a repr, an error, a traceback or a log line."""

from __future__ import annotations

import logging
import traceback

import httpx
import pytest

from ueba_api import ClientSettings, UebaError

from .fakes import (
    ACCESS_TOKEN,
    BASE_URL,
    BEARER_TOKEN,
    CLIENT_SECRET,
    OAUTH_CLIENT_SECRET,
    SECRETS,
    ClientFactory,
    reply,
    token_reply,
)


def assert_no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text


def test_client_repr_hides_secrets(make_client: ClientFactory) -> None:
    bearer, _ = make_client()
    oauth, _ = make_client(oauth=True)

    assert repr(bearer) == f"UebaClient(base_url='{BASE_URL}', auth='bearer token')"
    assert repr(oauth) == f"UebaClient(base_url='{BASE_URL}', auth='OAuth2 password grant')"
    for client in (bearer, oauth):
        assert_no_secret(repr(client) + str(client) + repr(client._http.auth))


def test_settings_repr_hides_secrets() -> None:
    settings = ClientSettings(
        base_url=BASE_URL, token=BEARER_TOKEN, client_id="id", client_secret=CLIENT_SECRET,
        oauth_client_secret=OAUTH_CLIENT_SECRET,
    )

    assert_no_secret(repr(settings) + str(settings) + str(settings.model_dump()))
    assert "**********" in repr(settings)


FAILURES = {
    "login refused": [reply(401, {"error": "invalid_client", "error_description": "bad client"})],
    "unreadable login answer": [reply(200, {"access_token": ACCESS_TOKEN, "expires_in": [1]})],
    "token refused twice": [token_reply(), reply(401), token_reply(), reply(401, text="Unauthorized")],
    "gateway page": [token_reply(), reply(502, text="<html>bad gateway</html>"), reply(502), reply(502)],
    "connection refused": [token_reply(), *(httpx.ConnectError("refused") for _ in range(3))],
    "read timeout": [token_reply(), *(httpx.ReadTimeout("timed out") for _ in range(3))],
}


@pytest.mark.parametrize("answers", FAILURES.values(), ids=FAILURES.keys())
def test_errors_and_logs_hold_no_secret(
    make_client: ClientFactory, caplog: pytest.LogCaptureFixture, answers: list
) -> None:
    client, _ = make_client(*answers, oauth=True)
    caplog.set_level(logging.DEBUG)

    with pytest.raises(UebaError) as caught:
        client.get_status()

    error = caught.value
    assert_no_secret(str(error) + repr(error) + str(vars(error)))
    assert_no_secret("".join(traceback.format_exception(error)))
    assert "Logging in at" in caplog.text
    assert_no_secret(caplog.text)


def test_successful_session_logs_hold_no_secret(
    make_client: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    client, _ = make_client(
        token_reply(), reply(503, retry_after="0"), reply(200, {"status": "RUNNING"}),
        reply(401), token_reply(), reply(200, {"count": 1, "items": []}),
        oauth=True,
    )
    caplog.set_level(logging.DEBUG)

    client.get_status()
    client.list_datasets()

    assert "Retrying GET" in caplog.text
    assert "logging in again" in caplog.text
    assert_no_secret(caplog.text)
