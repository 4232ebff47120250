"""`check_access` against the reference server: signed in, permitted to view, permitted to manage."""

from __future__ import annotations

import pytest

from ueba_api.access import Access, check_access
from ueba_api.client import UebaClient
from ueba_api.errors import ApiConnectionError
from ueba_server.launch import RunningServer


def test_the_manage_client_may_view_and_manage(api: UebaClient) -> None:
    before = [dataset.id for dataset in api.list_datasets().items]
    assert check_access(api) == Access(signed_in=True, can_view=True, can_manage=True)
    assert [dataset.id for dataset in api.list_datasets().items] == before, "the check deletes nothing"


def test_the_view_client_may_only_view(reference_server: RunningServer) -> None:
    with reference_server.client(client_id=reference_server.view_client_id,
                                 client_secret=reference_server.view_client_secret) as viewer:
        access = check_access(viewer)
    assert access == Access(signed_in=True, can_view=True, can_manage=False)
    assert access.summary == "signed in · view only"


def test_a_wrong_token_is_not_signed_in_with_the_servers_sentence(reference_server: RunningServer) -> None:
    with UebaClient(reference_server.base_url, token="not-a-valid-token") as stranger:
        assert stranger.get_status().status == "RUNNING", "/status answers anyone"
        access = check_access(stranger)
    assert access == Access(signed_in=False, can_view=False, can_manage=False,
                            refusal="Error: The bearer token is invalid or has expired")
    assert access.summary == "not signed in"


def test_wrong_client_credentials_are_not_signed_in(reference_server: RunningServer) -> None:
    with reference_server.client(client_secret="not-the-secret") as stranger:
        access = check_access(stranger)
    assert (access.signed_in, access.refusal) == (False, "Login failed: Invalid API client credentials")


def test_an_unreachable_server_raises(reference_server: RunningServer) -> None:
    with UebaClient("http://127.0.0.1:9", token="t", max_retries=0) as nowhere, pytest.raises(
            ApiConnectionError):
        check_access(nowhere)
