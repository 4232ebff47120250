"""Authentication: a static bearer token, or PrivX's OAuth2 password grant."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from ueba_api import ApiResponseValidationError, AuthenticationError, UebaClient

from .fakes import (
    ACCESS_TOKEN,
    API,
    BASE_URL,
    BEARER_TOKEN,
    PASSWORD_GRANT_LOGIN,
    TOKEN_URL,
    ClientFactory,
    ManualClock,
    reply,
    token_reply,
)

STATUS = {"status": "RUNNING"}


def test_login_request_is_byte_exact(make_client: ClientFactory) -> None:
    client, server = make_client(token_reply(), reply(200, STATUS), oauth=True)

    client.get_status()

    login = server.requests[0]
    assert login.method == "POST"
    assert str(login.url) == TOKEN_URL
    # base64("privx-external:oauth-client-secret-c2e8")
    assert login.headers["Authorization"] == "Basic cHJpdngtZXh0ZXJuYWw6b2F1dGgtY2xpZW50LXNlY3JldC1jMmU4"
    assert login.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert login.headers["Accept"] == "application/json"
    assert login.content == b"grant_type=password&username=api-client-id&password=api-client-secret-51c9"
    assert server.requests[1].headers["Authorization"] == f"Bearer {ACCESS_TOKEN}"


def test_login_form_encodes_special_characters(make_client: ClientFactory) -> None:
    client, server = make_client(
        token_reply(), reply(200, STATUS), oauth=True,
        client_id="api client/1", client_secret="p@ss w/rd&=+%", oauth_client_id="my-oauth",
        oauth_client_secret="sécret:x",
    )

    client.get_status()

    login = server.requests[0]
    assert login.content == (
        b"grant_type=password&username=api+client%2F1&password=p%40ss+w%2Frd%26%3D%2B%25"
    )
    # base64("my-oauth:sécret:x") in UTF-8, as PrivX's own SDKs send it.
    assert login.headers["Authorization"] == "Basic bXktb2F1dGg6c8OpY3JldDp4"


def test_missing_oauth_client_secret_sends_empty_password(make_client: ClientFactory) -> None:
    client, server = make_client(token_reply(), reply(200, STATUS), oauth=True, oauth_client_secret=None)

    client.get_status()

    # base64("privx-external:")
    assert server.requests[0].headers["Authorization"] == "Basic cHJpdngtZXh0ZXJuYWw6"


def test_one_token_serves_many_calls(make_client: ClientFactory) -> None:
    client, server = make_client(token_reply(), *(reply(200, STATUS) for _ in range(4)), oauth=True)

    for _ in range(4):
        client.get_status()

    assert len(server.token_requests()) == 1
    assert [r.headers["Authorization"] for r in server.api_requests()] == [f"Bearer {ACCESS_TOKEN}"] * 4


@pytest.mark.parametrize(
    ("expires_in", "still_valid_at", "renewed_at"),
    [(300, 269, 271), (20, 9, 10)],
    ids=["30 s before expiry", "short-lived: after half its lifetime"],
)
def test_token_is_renewed_before_it_expires(
    make_client: ClientFactory, expires_in: int, still_valid_at: int, renewed_at: int
) -> None:
    clock = ManualClock()
    client, server = make_client(
        token_reply("first", expires_in=expires_in), reply(200, STATUS), reply(200, STATUS),
        token_reply("second", expires_in=expires_in), reply(200, STATUS),
        oauth=True, _clock=clock,
    )
    logged_in_at = clock.now

    client.get_status()
    clock.now = logged_in_at + still_valid_at
    client.get_status()
    clock.now = logged_in_at + renewed_at
    client.get_status()

    assert [r.headers["Authorization"] for r in server.api_requests()] == [
        "Bearer first", "Bearer first", "Bearer second",
    ]
    assert len(server.token_requests()) == 2


def test_401_leads_to_exactly_one_new_login_and_retry(make_client: ClientFactory) -> None:
    client, server = make_client(
        token_reply("revoked"), reply(401, {"error_code": "GENERAL_ERROR", "error_message": "token revoked"}),
        token_reply("fresh"), reply(201, {"id": "new-id"}),
        oauth=True,
    )

    assert client.create_dataset({"time_range_settings": {}}) == "new-id"

    urls = [str(r.url) for r in server.requests]
    assert urls == [TOKEN_URL, f"{API}/datasets", TOKEN_URL, f"{API}/datasets"]
    assert [r.headers["Authorization"] for r in server.api_requests()] == ["Bearer revoked", "Bearer fresh"]
    assert server.api_requests()[0].content == server.api_requests()[1].content


def test_second_401_raises_authentication_error(make_client: ClientFactory) -> None:
    denied = reply(401, {"error_code": "GENERAL_ERROR", "error_message": "token not accepted"})
    client, server = make_client(token_reply("one"), denied, token_reply("two"), denied, oauth=True)

    with pytest.raises(AuthenticationError) as caught:
        client.get_status()

    assert str(caught.value) == "Error: token not accepted"
    assert len(server.requests) == 4
    assert len(server.token_requests()) == 2


def test_static_token_is_sent_as_is_and_401_is_final(make_client: ClientFactory) -> None:
    client, server = make_client(reply(401, {"error_code": "GENERAL_ERROR", "error_message": "expired"}))

    with pytest.raises(AuthenticationError):
        client.get_status()

    assert server.only_request.headers["Authorization"] == f"Bearer {BEARER_TOKEN}"


@pytest.mark.parametrize(
    ("status", "oauth_error", "sentence"),
    [
        (401, {"error": "invalid_client", "error_description": "Client authentication failed"},
         "OAuth client rejected: Client authentication failed"),
        (400, {"error": "invalid_grant", "error_description": "bad password"},
         "Login failed: bad password"),
    ],
    ids=["oauth client", "api client"],
)
def test_refused_login_raises_typed_error(
    make_client: ClientFactory, status: int, oauth_error: dict, sentence: str
) -> None:
    client, server = make_client(reply(status, oauth_error), oauth=True)

    with pytest.raises(AuthenticationError) as caught:
        client.get_status()

    assert caught.value.status_code == status
    assert str(caught.value) == sentence
    assert caught.value.error_code == oauth_error["error"]
    assert (caught.value.method, caught.value.url) == ("POST", TOKEN_URL)
    assert server.api_requests() == []


def test_unreadable_token_answer_keeps_no_body(make_client: ClientFactory) -> None:
    client, _ = make_client(reply(200, {"access_token": ACCESS_TOKEN, "expires_in": "soon"}), oauth=True)

    with pytest.raises(ApiResponseValidationError) as caught:
        client.get_status()

    assert str(caught.value).startswith(f"Unexpected answer from POST {TOKEN_URL}: ")
    assert "(expires_in)" in str(caught.value)
    assert caught.value.body_text == ""
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_concurrent_calls_share_one_login() -> None:
    logins: list[httpx.Request] = []

    def slow_login_server(request: httpx.Request) -> httpx.Response:
        if str(request.url) != TOKEN_URL:
            return reply(200, STATUS)
        logins.append(request)
        time.sleep(0.05)  # long enough for every other thread to find no token yet
        return token_reply()

    transport = httpx.MockTransport(slow_login_server)
    with (
        UebaClient(BASE_URL, transport=transport, **PASSWORD_GRANT_LOGIN) as client,
        ThreadPoolExecutor(max_workers=8) as pool,
    ):
        statuses = list(pool.map(lambda _: client.get_status(), range(8)))

    assert len(statuses) == 8
    assert len(logins) == 1
