"""Status codes other than 400 over raw HTTP: 401 against 403, 404, 405, 409, 413, the token endpoint's
OAuth2 errors, and a 500 that leaks nothing."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from ueba_server.app import create_app
from ueba_server.config import ServerConfig
from ueba_server.launch import RunningServer, start_server
from ueba_server.openapi import UEBA_PREFIX

from .helpers import TOKEN_PATH, bearer_token, raw_client
from .test_bad_input import assert_contract_error, dataset_body

UNKNOWN_ID = "00000000-0000-4000-8000-00000000dead"  # fixed: it names parametrized tests


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/datasets"),
        ("POST", "/datasets"),
        ("GET", f"/datasets/{UNKNOWN_ID}"),
        ("DELETE", f"/datasets/{UNKNOWN_ID}"),
        ("POST", f"/train/{UNKNOWN_ID}"),
        ("POST", "/query-connection-count"),
        ("GET", "/anomaly-settings"),
        ("POST", "/stop-analyzing"),
        ("GET", "/status/internal"),
    ],
)
def test_no_token_or_a_bad_one_is_401(reference_server: RunningServer, method: str, path: str) -> None:
    for token in (None, "not-a-token"):
        with raw_client(reference_server, token) as client:
            response = client.request(method, path, json=dataset_body() if method == "POST" else None)
            assert_contract_error(response, 401, "GENERAL_ERROR", None)
            assert response.headers["www-authenticate"] == "Bearer"


def test_status_needs_no_token(reference_server: RunningServer) -> None:
    with raw_client(reference_server, None) as client:
        assert client.get("/status").json()["status"] == "RUNNING"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/datasets"),
        ("PUT", f"/datasets/{UNKNOWN_ID}"),
        ("DELETE", f"/datasets/{UNKNOWN_ID}"),
        ("POST", f"/train/{UNKNOWN_ID}"),
        ("POST", "/anomaly-settings"),
        ("POST", f"/start-analyzing/{UNKNOWN_ID}"),
        ("POST", "/stop-analyzing"),
        ("POST", "/configure"),
        ("POST", "/setup-script"),
    ],
)
def test_view_only_client_cannot_change_anything(raw_view: httpx.Client, method: str, path: str) -> None:
    response = raw_view.request(method, path, json=dataset_body() if method in ("POST", "PUT") else None)
    body = assert_contract_error(response, 403, "PERMISSION_DENIED", None)
    assert "ueba-manage" in body["error_message"]


def test_view_only_client_can_read(raw_view: httpx.Client) -> None:
    assert raw_view.get("/datasets").status_code == 200
    assert raw_view.post("/query-connection-count", json={}).status_code == 200
    assert raw_view.get("/anomaly-settings").status_code == 200
    assert raw_view.get("/status/internal").status_code == 200


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", f"/datasets/{UNKNOWN_ID}"),
        ("PUT", f"/datasets/{UNKNOWN_ID}"),
        ("DELETE", f"/datasets/{UNKNOWN_ID}"),
        ("POST", f"/train/{UNKNOWN_ID}"),
        ("POST", f"/start-analyzing/{UNKNOWN_ID}"),
    ],
)
def test_unknown_dataset_is_404(raw: httpx.Client, method: str, path: str) -> None:
    response = raw.request(method, path, json=dataset_body() if method == "PUT" else None)
    body = assert_contract_error(response, 404, "GENERAL_ERROR", "dataset_id")
    assert UNKNOWN_ID in body["error_message"]


def test_unknown_route_is_404_and_wrong_method_405_with_the_contract_body(
    raw: httpx.Client, reference_server: RunningServer
) -> None:
    assert_contract_error(raw.get("/no-such-thing"), 404, "GENERAL_ERROR", None)
    assert_contract_error(httpx.get(f"{reference_server.base_url}/elsewhere"), 404, "GENERAL_ERROR", None)
    assert_contract_error(raw.delete("/datasets"), 405, "BAD_REQUEST", None)
    assert_contract_error(raw.get("/stop-analyzing"), 405, "BAD_REQUEST", None)


def test_setup_script_downloads_once(raw: httpx.Client) -> None:
    assert (
        raw.post("/configure", json={"address": "ueba.example.com:443", "trust_anchors": ""}).status_code
        == 200
    )
    session_id = raw.post("/setup-script").json()["id"]
    script = raw.get(f"/setup-script/{session_id}")
    assert script.status_code == 200 and script.headers["content-type"].startswith("text/x-shellscript")
    assert script.text.startswith("#!/bin/sh") and "UEBA_ADDRESS=ueba.example.com:443" in script.text
    assert_contract_error(raw.get(f"/setup-script/{session_id}"), 404, "GENERAL_ERROR", "session_id")


class TestBodyLimit:
    LIMIT = 1024 * 1024

    def test_declared_oversized_body_is_413_before_parsing(self, raw: httpx.Client) -> None:
        # Not JSON at all: a parser would have said 400; the limit answers first.
        response = raw.post(
            "/datasets", content=b"x" * (self.LIMIT + 1), headers={"Content-Type": "application/json"}
        )
        assert_contract_error(response, 413, "VALUE_OUT_OF_BOUNDS", "body")

    def test_streamed_oversized_body_without_length_is_413(self, raw: httpx.Client) -> None:
        chunks = iter([b"[" + b"0," * (self.LIMIT // 4)] * 3)
        response = raw.post("/datasets", content=chunks, headers={"Content-Type": "application/json"})
        assert "content-length" not in response.request.headers
        assert_contract_error(response, 413, "VALUE_OUT_OF_BOUNDS", "body")

    def test_a_body_just_under_the_limit_is_parsed(self, raw: httpx.Client) -> None:
        body = b'{"time_range_settings": {}, "comment": "' + b"x" * (self.LIMIT - 100) + b'"}'
        response = raw.post("/datasets", content=body, headers={"Content-Type": "application/json"})
        assert_contract_error(response, 400, "VALUE_OUT_OF_BOUNDS", "comment")


class TestTokenEndpoint:
    def post(self, server: RunningServer, auth: tuple[str, str] | None, **form: str) -> httpx.Response:
        return httpx.post(f"{server.base_url}{TOKEN_PATH}", auth=auth, data=form)

    def log_in(self, server: RunningServer, username: str, password: str) -> httpx.Response:
        oauth_client = (server.oauth_client_id, server.oauth_client_secret)
        return self.post(server, oauth_client, grant_type="password", username=username, password=password)

    def test_issues_an_expiring_bearer_token(self, reference_server: RunningServer) -> None:
        server = reference_server
        response = self.log_in(server, server.client_id, server.client_secret)
        assert response.status_code == 200
        body = response.json()
        assert (
            body["token_type"] == "bearer" and body["expires_in"] == 300 and len(body["access_token"]) >= 32
        )
        assert set(body["scope"].split()) == {"ueba-view", "ueba-manage"}

    @pytest.mark.parametrize(
        ("oauth", "form", "status", "error"),
        [
            (None, {"grant_type": "password", "username": "u", "password": "p"}, 401, "invalid_client"),
            (("privx-external", "wrong"), {"grant_type": "password"}, 401, "invalid_client"),
            ("ok", {}, 400, "invalid_request"),
            ("ok", {"grant_type": "client_credentials"}, 400, "unsupported_grant_type"),
            ("ok", {"grant_type": "password", "username": "u"}, 400, "invalid_request"),
            ("ok", {"grant_type": "password", "username": "u", "password": "wrong"}, 400, "invalid_grant"),
        ],
    )
    def test_errors_have_the_oauth2_shape(
        self, reference_server: RunningServer, oauth: object, form: dict, status: int, error: str
    ) -> None:
        server = reference_server
        auth = (server.oauth_client_id, server.oauth_client_secret) if oauth == "ok" else oauth
        response = self.post(server, auth, **form)
        assert response.status_code == status
        assert response.json().keys() == {"error", "error_description"} and response.json()["error"] == error
        assert server.client_secret not in response.text and server.oauth_client_secret not in response.text

    def test_the_manage_secret_does_not_log_in_the_view_client(self, reference_server: RunningServer) -> None:
        server = reference_server
        response = self.log_in(server, server.view_client_id, server.client_secret)
        assert response.json()["error"] == "invalid_grant"


def test_tokens_expire(tmp_path: Path) -> None:
    with start_server(tmp_path, connections=6_000, token_lifetime=1) as server:
        token = bearer_token(server, server.client_id, server.client_secret)
        with raw_client(server, token) as client:
            assert client.get("/anomaly-settings").status_code == 200
            time.sleep(1.2)
            assert_contract_error(client.get("/anomaly-settings"), 401, "GENERAL_ERROR", None)


@pytest.fixture
def failing_server(tmp_path: Path) -> Iterator[str]:
    """The real app with one extra route that fails, served by uvicorn on a loopback port."""
    app = create_app(ServerConfig(data_dir=tmp_path, connections=6_000))

    @app.get(f"{UEBA_PREFIX}/explode")
    def explode() -> None:
        raise RuntimeError("secret internals: /etc/shadow")

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="critical"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=30)


def test_unexpected_errors_are_500_without_internals(failing_server: str) -> None:
    response = httpx.get(f"{failing_server}{UEBA_PREFIX}/explode")
    body = assert_contract_error(response, 500, "GENERAL_ERROR", None)
    assert "shadow" not in response.text and "RuntimeError" not in body["error_message"]
