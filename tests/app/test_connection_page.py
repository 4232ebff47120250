"""The Connection page and connection failures, over real HTTP against the reference server."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator

import pytest
from streamlit.testing.v1 import AppTest

from tests.app.conftest import APP, RUN_TIMEOUT, privx_secrets, texts, unescaped
from ueba_api.models import Dataset
from ueba_server.launch import RunningServer, start_server
from ui import server

CONNECTION = "pages/connection.py"


def connection_page(app: AppTest) -> AppTest:
    app.run()
    app.switch_page(CONNECTION).run()
    assert not app.exception
    return app


def type_settings(app: AppTest, server: RunningServer, **changes: str) -> None:
    """Fills the form with `server`'s settings; `changes` override them (`ca_paste`: the PEM text area)."""
    names = ("base_url", "client_id", "client_secret", "oauth_client_id", "oauth_client_secret")
    values = {name: getattr(server, name) for name in names}
    for name, value in (values | changes).items():
        field = app.text_area if name == "ca_paste" else app.text_input
        field(key=f"connection.{name}").input(value)


def everything_shown(app: AppTest) -> str:
    """Every element's text, and every widget's value (a password field included)."""
    values = [str(getattr(widget, "value", "")) for widget in (*app.text_input, *app.text_area)]
    return "\n".join(texts(app) + values)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_the_page_says_where_the_app_is_and_which_secrets_are_set(
    app: AppTest, reference_server: RunningServer
) -> None:
    connection_page(app)
    assert app.main.markdown[0].value == f"Using **PrivX at {reference_server.base_url}**. From secrets.toml."
    assert app.main.caption[0].value == (
        "API client secret: set, OAuth client secret: set, Bearer token: not set. CA certificate: not set.")
    assert app.text_input(key="connection.client_secret").value == ""
    app.button(key="connection.test_current").click().run()
    assert app.success[0].value == (
        "The server answers: **RUNNING** — UEBA reference server. Signed in · view and manage.")
    assert reference_server.client_secret not in everything_shown(app)


def test_typed_settings_are_tested_then_used_and_their_secrets_never_shown(
    app: AppTest, reference_server: RunningServer
) -> None:
    connection_page(app)
    type_settings(app, reference_server)
    app.button(key="connection.test").click().run()
    assert not app.error
    assert app.success[0].value.startswith("The server answers: **RUNNING**")

    app.button(key="connection.connect").click().run()
    assert app.success[-1].value == (
        f"Now using PrivX at {reference_server.base_url}, signed in · view and manage.")
    assert app.sidebar.caption[-1].value == "Chosen on the Connection page."
    assert app.sidebar.markdown[0].value == f"**PrivX at {reference_server.base_url}**"
    shown = everything_shown(app)
    assert reference_server.client_secret not in shown
    assert reference_server.oauth_client_secret not in shown

    # The session keeps using them on other pages, with nothing typed again.
    app.switch_page("pages/datasets.py").run()
    assert not app.exception and not app.error
    assert app.title[0].value == "Datasets"


def test_refused_credentials_show_the_servers_sentence_and_no_secret(
    app: AppTest, reference_server: RunningServer
) -> None:
    wrong_secret = "not-the-secret-" + reference_server.client_secret[:6]
    connection_page(app)
    type_settings(app, reference_server, client_secret=wrong_secret)
    app.button(key="connection.test").click().run()
    assert not app.exception
    assert [unescaped(error.value) for error in app.error] == ["Login failed: Invalid API client credentials"]
    app.button(key="connection.connect").click().run()
    assert [unescaped(error.value) for error in app.error] == [
        "Not connected. Login failed: Invalid API client credentials"]
    assert app.sidebar.caption[-1].value == "From secrets.toml."
    assert wrong_secret not in "\n".join(texts(app))
    # What was typed stays, so it can be corrected.
    assert app.text_input(key="connection.client_secret").value == wrong_secret


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"base_url": "privx.example.com"},
         "The settings in the form are not usable. Base URL: must be an http(s) URL such as "
         "https://privx.example.com."),
        ({"client_id": ""},
         "The settings in the form are not usable. API client ID is required with API client secret."),
        ({"ca_paste": "MIIB-not-a-certificate"},
         "The settings in the form are not usable. CA certificate: must be PEM text or the path of a PEM "
         "file; no such file."),
    ],
)
def test_bad_settings_name_the_field_and_nothing_typed_is_lost(
    app: AppTest, reference_server: RunningServer, changes: dict[str, str], message: str
) -> None:
    connection_page(app)
    type_settings(app, reference_server, **changes)
    app.button(key="connection.connect").click().run()
    assert [unescaped(error.value) for error in app.error] == [message]
    assert app.sidebar.caption[-1].value == "From secrets.toml."
    typed_url = changes.get("base_url", reference_server.base_url)
    assert app.text_input(key="connection.base_url").value == typed_url
    assert app.text_input(key="connection.client_secret").value == reference_server.client_secret


def test_settings_errors_use_the_forms_labels(app: AppTest) -> None:
    connection_page(app)
    app.radio(key="connection.auth").set_value("Bearer token").run()
    app.button(key="connection.connect").click().run()
    assert [unescaped(error.value) for error in app.error] == [
        "The settings in the form are not usable. Give either Bearer token, or API client ID and API client "
        "secret."]


def sidebar_badges(app: AppTest) -> list[str]:
    """The sidebar's markdown, where st.badge lands."""
    return [markdown.value for markdown in app.sidebar.markdown]


def test_a_wrong_token_is_refused_with_the_servers_sentence(
    app: AppTest, reference_server: RunningServer
) -> None:
    """/status answers without a token: Test and Connect prove the credentials with an authenticated read."""
    connection_page(app)
    app.text_input(key="connection.base_url").input(reference_server.base_url)
    app.radio(key="connection.auth").set_value("Bearer token").run()
    app.text_input(key="connection.token").input("not-a-valid-token")
    app.button(key="connection.test").click().run()
    refused = "Error: The bearer token is invalid or has expired"
    assert [unescaped(error.value) for error in app.error] == [
        f"The server answers, but refuses these credentials: {refused}"]
    assert not app.success
    app.button(key="connection.connect").click().run()
    assert [unescaped(error.value) for error in app.error] == [f"Not connected. {refused}"]
    assert app.sidebar.caption[-1].value == "From secrets.toml.", "still on the settings that work"


def test_a_view_only_client_is_said_so_and_cannot_write(
    app: AppTest, reference_server: RunningServer, new_dataset: Callable[..., Dataset]
) -> None:
    dataset = new_dataset()
    connection_page(app)
    type_settings(app, reference_server, client_id=reference_server.view_client_id,
                  client_secret=reference_server.view_client_secret)
    app.button(key="connection.test").click().run()
    assert app.success[0].value.endswith(". Signed in · view only.")
    app.button(key="connection.connect").click().run()
    assert app.success[-1].value == (
        f"Now using PrivX at {reference_server.base_url}, signed in · view only. These credentials may only "
        "view: saving, training and activating are disabled.")
    assert "signed in · view only" in "\n".join(sidebar_badges(app))
    app.switch_page("pages/datasets.py").run()
    assert not app.exception and not app.error
    assert app.button(key="datasets.new").disabled
    app.switch_page("pages/dataset_editor.py").run()
    assert app.button(key="editor.new.save").disabled
    app.query_params["dataset"] = dataset.id
    app.switch_page("pages/training.py").run()
    [train] = [button for button in app.button if (button.key or "").startswith("training.train.")]
    assert train.disabled and train.help == "These credentials may only view (no ueba-manage permission)."


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A PrivX stand-in on HTTPS with its own CA, as real PrivX installations have."""
    with start_server(tmp_path_factory.mktemp("tls-server"), tls=True, connections=2_000, epochs=1) as server:
        yield server


def test_a_privx_with_its_own_ca_is_reached_with_the_uploaded_certificate(
    app: AppTest, tls_server: RunningServer
) -> None:
    connection_page(app)
    type_settings(app, tls_server)
    app.button(key="connection.test").click().run()
    [error] = app.error
    assert "CERTIFICATE_VERIFY_FAILED" in unescaped(error.value), "without its CA, the server is not trusted"

    certificate = tls_server.ca_cert.read_bytes()
    app.file_uploader(key="connection.ca_upload").upload("ca.pem", certificate, "application/x-pem-file")
    app.button(key="connection.connect").click().run()
    assert not app.error
    assert app.sidebar.markdown[0].value == f"**PrivX at {tls_server.base_url}**"
    assert any("RUNNING" in markdown.value for markdown in app.sidebar.markdown)
    assert app.main.caption[0].value.endswith("CA certificate: set.")


def test_an_unreachable_server_is_said_plainly_with_a_retry(make_app: Callable[..., AppTest]) -> None:
    app = make_app(base_url=f"http://127.0.0.1:{closed_port()}", max_retries=0)
    app.run()
    assert not app.exception
    [error] = app.error
    assert unescaped(error.value).startswith("Cannot reach the server, so could not load the datasets.")
    assert "Traceback" not in "\n".join(texts(app))
    assert any("unreachable" in markdown.value for markdown in app.sidebar.markdown)
    app.button(key="retry:load the datasets").click().run()
    assert not app.exception
    assert unescaped(app.error[0].value).startswith("Cannot reach the server")
    # Other pages say so too, once per failed call; the Connection page offers the way out.
    app.switch_page("pages/dataset_editor.py").run()
    assert not app.exception
    assert [unescaped(error.value).split(".")[0] for error in app.error] == [
        "Cannot reach the server, so could not count the connections",
        "Cannot reach the server, so could not count the connections per day",
    ]
    app.switch_page(CONNECTION).run()
    assert not app.exception
    assert app.button(key="connection.embedded")


def test_settings_come_from_the_environment_without_a_privx_secrets_section(
    monkeypatch: pytest.MonkeyPatch, reference_server: RunningServer
) -> None:
    for name in ("base_url", "client_id", "client_secret", "oauth_client_id", "oauth_client_secret"):
        monkeypatch.setenv(f"PRIVX_API_{name.upper()}", getattr(reference_server, name))
    app = AppTest.from_file(APP, default_timeout=RUN_TIMEOUT)
    app.secrets["unrelated"] = {"x": 1}  # a secrets file without [privx]
    app.run()
    assert not app.exception and not app.error
    assert app.sidebar.caption[-1].value == "From the PRIVX_API_* variables."


def test_the_app_keeps_a_bounded_number_of_clients_and_closes_those_it_drops(
    reference_server: RunningServer
) -> None:
    """Each settings tried (on the Connection page, say) gets a cached client; beyond MAX_CLIENTS the
    least recently used is dropped and closed, so a long-running app does not pile them up."""
    base = server.settings_from(privx_secrets(reference_server), "the test")
    variants = [base.model_copy(update={"timeout": 30.0 + number})  # one fingerprint each
                for number in range(server.MAX_CLIENTS + 1)]
    clients = [server.cached_client(settings)
               for settings in variants]
    assert clients[-1].get_status().status == "RUNNING"
    with pytest.raises(RuntimeError, match="client has been closed"):
        clients[0].get_status()
    assert clients[1].get_status().status == "RUNNING", "only the oldest was dropped"
    again = server.cached_client(variants[0])
    assert again is not clients[0] and again.get_status().status == "RUNNING"
