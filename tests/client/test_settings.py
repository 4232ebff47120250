"""ClientSettings: PRIVX_API_* variables, validation that names the field, and the CA certificate."""

from __future__ import annotations

import ssl
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pydantic import SecretStr, ValidationError

from ueba_api import ClientSettings, UebaClient

from .fakes import BASE_URL, CLIENT_SECRET, OAUTH_CLIENT_SECRET, FakeServer, reply, token_reply

FULL_ENVIRONMENT = {
    "PRIVX_API_BASE_URL": "https://privx.example.com/",
    "PRIVX_API_CLIENT_ID": "api-client-id",
    "PRIVX_API_CLIENT_SECRET": CLIENT_SECRET,
    "PRIVX_API_OAUTH_CLIENT_ID": "privx-external",
    "PRIVX_API_OAUTH_CLIENT_SECRET": OAUTH_CLIENT_SECRET,
}


@pytest.fixture(scope="module")
def ca_pem() -> str:
    """A self-signed CA certificate, as PrivX's own CA would be."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "PrivX Test CA")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


def field_errors(error: ValidationError) -> dict[str, str]:
    return {".".join(map(str, e["loc"])) or "(settings)": e["msg"] for e in error.errors()}


def test_from_env_reads_every_privx_variable() -> None:
    settings = ClientSettings.from_env(FULL_ENVIRONMENT)

    assert settings.base_url == BASE_URL
    assert settings.client_id == "api-client-id"
    assert settings.client_secret == SecretStr(CLIENT_SECRET)
    assert settings.oauth_client_id == "privx-external"
    assert settings.oauth_client_secret == SecretStr(OAUTH_CLIENT_SECRET)
    assert settings.token is None and settings.ca_cert is None


def test_from_env_reads_token_and_ca_cert(ca_pem: str) -> None:
    settings = ClientSettings.from_env(
        {"PRIVX_API_BASE_URL": BASE_URL, "PRIVX_API_TOKEN": "t0k3n", "PRIVX_API_CA_CERT": ca_pem,
         "PRIVX_API_CLIENT_ID": ""}
    )

    assert settings.token == SecretStr("t0k3n")
    assert settings.client_id is None
    assert settings.ca_cert == ca_pem.strip()


def test_from_env_overrides_win() -> None:
    settings = ClientSettings.from_env(FULL_ENVIRONMENT, timeout=5.0, max_retries=0)

    assert (settings.timeout, settings.max_retries) == (5.0, 0)


def test_missing_base_url_is_named() -> None:
    with pytest.raises(ValidationError) as caught:
        ClientSettings.from_env({"PRIVX_API_TOKEN": "t"})

    assert field_errors(caught.value) == {"base_url": "Field required"}


@pytest.mark.parametrize(
    "base_url",
    ["privx.example.com", "ftp://privx.example.com", "https://", "http://[::1", "https://admin:pw@privx.example.com"],
)
def test_base_url_must_be_http(base_url: str) -> None:
    with pytest.raises(ValidationError) as caught:
        ClientSettings(base_url=base_url, token="t")

    assert list(field_errors(caught.value)) == ["base_url"]


@pytest.mark.parametrize(
    ("credentials", "message"),
    [
        ({}, "Value error, give either token, or client_id and client_secret"),
        ({"client_id": "id"}, "Value error, client_secret is required with client_id"),
        ({"client_secret": "s"}, "Value error, client_id is required with client_secret"),
    ],
)
def test_credentials_are_required(credentials: dict[str, str], message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        ClientSettings(base_url=BASE_URL, **credentials)

    assert field_errors(caught.value) == {"(settings)": message}


@pytest.mark.parametrize(("field", "value"), [("timeout", 0), ("max_retries", -1), ("verify", "maybe")])
def test_bad_client_options_are_named(field: str, value: object) -> None:
    with pytest.raises(ValidationError) as caught:
        UebaClient(BASE_URL, token="t", **{field: value})

    assert list(field_errors(caught.value)) == [field]


def test_misspelt_setting_is_named() -> None:
    """Settings from Streamlit secrets or a form arrive as a mapping: a typo must not pass unnoticed."""
    with pytest.raises(ValidationError) as caught:
        ClientSettings.model_validate({"base_url": BASE_URL, "token": "t", "client_secert": "s"})

    assert field_errors(caught.value) == {"client_secert": "Extra inputs are not permitted"}


def test_ca_cert_as_pem_text_is_trusted(ca_pem: str) -> None:
    context = ClientSettings(base_url=BASE_URL, token="t", ca_cert=ca_pem).tls_verify()

    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert [cert["subject"] for cert in context.get_ca_certs()] == [((("commonName", "PrivX Test CA"),),)]


@pytest.mark.parametrize("as_text", [True, False], ids=["str path", "Path"])
def test_ca_cert_as_path_is_trusted(ca_pem: str, tmp_path: Path, as_text: bool) -> None:
    bundle = tmp_path / "privx-ca.pem"
    bundle.write_text(ca_pem)

    settings = ClientSettings(base_url=BASE_URL, token="t", ca_cert=str(bundle) if as_text else bundle)
    context = settings.tls_verify()

    assert settings.ca_cert == str(bundle)
    assert isinstance(context, ssl.SSLContext)
    assert len(context.get_ca_certs()) == 1


@pytest.mark.parametrize(
    "ca_cert", ["/no/such/ca.pem", "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n"]
)
def test_unreadable_ca_cert_is_named(ca_cert: str) -> None:
    with pytest.raises(ValidationError) as caught:
        ClientSettings(base_url=BASE_URL, token="t", ca_cert=ca_cert)

    assert list(field_errors(caught.value)) == ["ca_cert"]


def test_verify_false_turns_verification_off(ca_pem: str) -> None:
    assert ClientSettings(base_url=BASE_URL, token="t", verify=False, ca_cert=ca_pem).tls_verify() is False
    assert ClientSettings(base_url=BASE_URL, token="t").tls_verify() is True


def test_client_from_settings_uses_them(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in FULL_ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    server = FakeServer([token_reply(), reply(200, {"status": "RUNNING"})])

    with UebaClient.from_env(transport=httpx.MockTransport(server)) as client:
        client.get_status()

    assert client.base_url == BASE_URL
    assert server.requests[0].content == (
        b"grant_type=password&username=api-client-id&password=" + CLIENT_SECRET.encode()
    )


def test_client_from_settings_with_overrides() -> None:
    settings = ClientSettings(base_url=BASE_URL, token="settings-token")
    server = FakeServer([reply(200, {"status": "RUNNING"})])

    transport = httpx.MockTransport(server)

    with UebaClient.from_settings(settings, token="override", transport=transport) as client:
        client.get_status()

    assert server.only_request.headers["Authorization"] == "Bearer override"
