"""`ca_cert` over real HTTPS: the reference server with its own CA, as PrivX has."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ueba_api import ApiConnectionError, UebaClient
from ueba_server.launch import RunningServer, start_server


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    data_dir = tmp_path_factory.mktemp("ueba-tls-server")
    with start_server(data_dir, tls=True, connections=100, seed=5) as server:
        yield server


def client_of(server: RunningServer, **options: object) -> UebaClient:
    return UebaClient(
        server.base_url, client_id=server.client_id, client_secret=server.client_secret,
        oauth_client_secret=server.oauth_client_secret, max_retries=0, **options,
    )


@pytest.mark.parametrize("as_pem_text", [False, True], ids=["path", "PEM text"])
def test_ca_cert_makes_the_server_trusted(tls_server: RunningServer, as_pem_text: bool) -> None:
    assert tls_server.base_url.startswith("https://") and tls_server.ca_cert is not None
    ca_cert = Path(tls_server.ca_cert).read_text() if as_pem_text else str(tls_server.ca_cert)

    with client_of(tls_server, ca_cert=ca_cert) as client:
        assert client.get_anomaly_settings().threshold is not None


def test_unknown_ca_is_refused(tls_server: RunningServer) -> None:
    with client_of(tls_server) as client, pytest.raises(ApiConnectionError) as caught:
        client.get_status()

    assert "CERTIFICATE_VERIFY_FAILED" in str(caught.value)


def test_verify_false_skips_the_check(tls_server: RunningServer) -> None:
    with client_of(tls_server, verify=False) as client:
        assert client.get_status().status == "RUNNING"
