"""Tokens and secrets are cleaned where settings are read, and no error or log shows a header value or a
settings input: a pasted token with a trailing newline works, one with a space inside is refused by
name, and a URL with a password or a secret of the wrong type is never echoed."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable

import httpx
import pytest
from pydantic import SecretStr, ValidationError

from ueba_api import ApiConnectionError, ApiResponseValidationError, ClientSettings, UebaClient
from ueba_server.launch import RunningServer

from .fakes import BASE_URL, BEARER_TOKEN, CLIENT_SECRET, ClientFactory, FakeServer, reply

LOGGERS = ("httpx", "httpcore", "ueba_api")


def everything_said(error: BaseException) -> str:
    return str(error) + repr(error) + "".join(traceback.format_exception(error))


def login_token(server: RunningServer) -> str:
    """A bearer token of the reference server, fetched as any OAuth client would."""
    answer = httpx.post(
        server.base_url + "/auth/api/v1/oauth/token",
        data={"grant_type": "password", "username": server.client_id, "password": server.client_secret},
        auth=(server.oauth_client_id, server.oauth_client_secret),
        verify=str(server.ca_cert) if server.ca_cert else True,
    )
    answer.raise_for_status()
    return answer.json()["access_token"]


@pytest.mark.parametrize("padding", [" ", "\n", "\r\n", "\t ", " \n"], ids=repr)
def test_a_token_with_surrounding_whitespace_is_stripped(padding: str) -> None:
    settings = ClientSettings(base_url=BASE_URL, token=padding + BEARER_TOKEN + padding)

    assert settings.token == SecretStr(BEARER_TOKEN)


def test_a_padded_token_works_over_real_http_and_leaks_into_no_log(
    reference_server: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    token = login_token(reference_server)
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)

    pasted = token + " \n"
    with UebaClient(reference_server.base_url, token=pasted, ca_cert=reference_server.ca_cert) as client:
        assert client.get_status().status

    assert "send_request_headers" in caplog.text, "httpcore's DEBUG log was captured"
    assert token not in caplog.text


@pytest.mark.parametrize("token", [f"{BEARER_TOKEN[:6]} {BEARER_TOKEN[6:]}", f"{BEARER_TOKEN}\nX-Evil: 1",
                                   f"{BEARER_TOKEN}\x00", f"{BEARER_TOKEN}\x7f", f"{BEARER_TOKEN}é"],
                         ids=["inner space", "header injection", "NUL", "DEL", "non-ASCII"])
@pytest.mark.parametrize("make", [lambda token: ClientSettings(base_url=BASE_URL, token=token),
                                  lambda token: UebaClient(BASE_URL, token=token)],
                         ids=["ClientSettings", "UebaClient"])
def test_a_token_that_cannot_be_a_header_is_refused_by_name_without_its_value(
    make: Callable[[str], object], token: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        make(token)

    assert [error["loc"] for error in caught.value.errors()] == [("token",)]
    assert BEARER_TOKEN[:10] not in everything_said(caught.value)


@pytest.mark.parametrize("field", ["client_secret", "oauth_client_secret"])
def test_secrets_are_stripped_and_refused_with_control_characters(field: str) -> None:
    login = {"client_id": "api-client-id", "client_secret": "x"}

    stripped = ClientSettings(base_url=BASE_URL, **{**login, field: f"  {CLIENT_SECRET} with space\n"})
    with pytest.raises(ValidationError) as caught:
        ClientSettings(base_url=BASE_URL, **{**login, field: f"{CLIENT_SECRET}\nmore"})

    assert getattr(stripped, field) == SecretStr(f"{CLIENT_SECRET} with space")
    assert [error["loc"] for error in caught.value.errors()] == [(field,)]
    assert CLIENT_SECRET not in everything_said(caught.value)


@pytest.mark.parametrize(
    ("settings", "field", "hidden"),
    [
        # Short, so that pydantic's shortening of long inputs cannot hide the password by chance.
        ({"base_url": "https://a:pw-51c9@h.io", "token": "t"}, "base_url", "pw-51c9"),
        ({"base_url": "https://a:pw-51c9@h.io:port", "token": "t"}, "base_url", "pw-51c9"),
        ({"base_url": BASE_URL, "client_id": "id", "client_secret": 51_937_204_116}, "client_secret",
         "51937204116"),
        ({"base_url": BASE_URL, "token": ["static", BEARER_TOKEN]}, "token", BEARER_TOKEN),
        ({"base_url": BASE_URL, "token": "t", "oauth_client_secret": {"s": CLIENT_SECRET}},
         "oauth_client_secret", CLIENT_SECRET),
    ],
    ids=["URL with password", "URL with password and bad port", "secret as a number", "token as a list",
         "secret as a dict"],
)
def test_settings_errors_name_the_field_but_never_echo_the_input(
    settings: dict[str, object], field: str, hidden: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        ClientSettings(**settings)

    assert [error["loc"] for error in caught.value.errors()] == [(field,)]
    assert hidden not in everything_said(caught.value)


def test_an_illegal_header_error_from_httpx_is_scrubbed(make_client: ClientFactory) -> None:
    """httpx quotes the offending header in its message; the client's error and traceback never do."""
    illegal = httpx.LocalProtocolError(f"Illegal header value b'Bearer {BEARER_TOKEN} '")
    client, server = make_client(illegal, reply(200, {"status": "RUNNING"}))

    with pytest.raises(ApiConnectionError) as caught:
        client.get_status()

    assert str(caught.value) == (f"GET {BASE_URL}/connection-manager/api/v1/ueba/status was not sent: it is "
                                 "not valid HTTP (e.g. a header holds a line break)")
    assert BEARER_TOKEN not in everything_said(caught.value)
    assert len(server.requests) == 1, "an invalid request is not sent again"


@pytest.mark.parametrize("access_token", ["issued token", "issued\ntoken", "issued\x01token"], ids=repr)
def test_a_login_answer_whose_token_cannot_be_a_header_is_refused_without_its_value(
    access_token: str,
) -> None:
    server = FakeServer([reply(200, {"access_token": access_token, "expires_in": 300})])
    client = UebaClient(BASE_URL, client_id="id", client_secret="s", transport=httpx.MockTransport(server))

    with pytest.raises(ApiResponseValidationError) as caught:
        client.get_status()

    assert "(access_token)" in str(caught.value)
    assert "issued" not in everything_said(caught.value) + caught.value.body_text


def test_a_login_answer_whose_token_ends_in_a_newline_is_used_stripped() -> None:
    server = FakeServer([reply(200, {"access_token": "issued-token\n", "expires_in": 300}),
                         reply(200, {"status": "RUNNING"})])
    transport = httpx.MockTransport(server)
    with UebaClient(BASE_URL, client_id="id", client_secret="s", transport=transport) as client:
        client.get_status()

    assert server.api_requests()[0].headers["Authorization"] == "Bearer issued-token"
