"""Conditional writes: `If-Unmodified-Since` (an HTTP-date) and `If-Match` (the quoted `updated`) on PUT and
DELETE when the caller gives them, 412 as PreconditionFailedError, and unchanged calls against a server
that ignores the headers."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import httpx
import pytest
from pydantic import ValidationError

from ueba_api import ApiStatusError, Dataset, NotFoundError, PreconditionFailedError, TimeRange, UebaClient

from .fakes import API, ClientFactory, payload, reply

UPDATED = datetime(2026, 11, 30, 14, 5, 9, 250_000, tzinfo=UTC)
ETAG = '"2026-11-30T14:05:09.25Z"'
STALE = {"error_code": "BAD_REQUEST", "error_message": "dataset changed since 2026-11-30T14:05:09Z",
         "property": "If-Unmodified-Since"}

Write = Callable[..., None]


def update(client: UebaClient, **conditions: object) -> None:
    client.update_dataset("d-1", Dataset.model_validate(payload("dataset.json")), **conditions)


def delete(client: UebaClient, **conditions: object) -> None:
    client.delete_dataset("d-1", **conditions)


WRITES = {"PUT": update, "DELETE": delete}


@pytest.mark.parametrize("write", WRITES.values(), ids=WRITES.keys())
@pytest.mark.parametrize(
    ("conditions", "headers"),
    [
        ({"if_unmodified_since": UPDATED}, {"if-unmodified-since": "Mon, 30 Nov 2026 14:05:09 GMT"}),
        # Another zone and a naive datetime (taken as UTC) name the same instant.
        ({"if_unmodified_since": UPDATED.astimezone(timezone(timedelta(hours=2)))},
         {"if-unmodified-since": "Mon, 30 Nov 2026 14:05:09 GMT"}),
        ({"if_unmodified_since": UPDATED.replace(tzinfo=None)},
         {"if-unmodified-since": "Mon, 30 Nov 2026 14:05:09 GMT"}),
        ({"if_match": ETAG}, {"if-match": ETAG}),
        ({"if_match": ETAG, "if_unmodified_since": UPDATED},
         {"if-match": ETAG, "if-unmodified-since": "Mon, 30 Nov 2026 14:05:09 GMT"}),
        ({}, {}),
    ],
    ids=["since", "since in +02:00", "since naive", "match", "both", "neither"],
)
def test_conditions_go_out_as_exact_headers(
    make_client: ClientFactory, write: Write, conditions: dict[str, object], headers: dict[str, str]
) -> None:
    client, server = make_client(reply(200))

    write(client, **conditions)

    sent = server.only_request.headers
    conditional = {name: value for name, value in sent.items() if name.startswith("if-")}
    assert conditional == headers
    if write is update:
        assert json.loads(server.only_request.content) == Dataset.model_validate(
            payload("dataset.json")).to_request()


@pytest.mark.parametrize("write", WRITES.values(), ids=WRITES.keys())
def test_a_stale_write_raises_precondition_failed(make_client: ClientFactory, write: Write) -> None:
    client, server = make_client(reply(412, STALE))

    with pytest.raises(PreconditionFailedError) as caught:
        write(client, if_unmodified_since=UPDATED)

    assert isinstance(caught.value, ApiStatusError)
    assert caught.value.status_code == 412
    assert str(caught.value) == ("Bad request: dataset changed since 2026-11-30T14:05:09Z "
                                 "(If-Unmodified-Since)")
    assert len(server.requests) == 1, "a 412 is an answer, not a reason to retry"


@pytest.mark.parametrize("write", WRITES.values(), ids=WRITES.keys())
def test_a_server_that_ignores_the_headers_works_unchanged(make_client: ClientFactory, write: Write) -> None:
    """A PrivX without the extension answers a conditional write as any other."""
    client, server = make_client(reply(200), reply(200))

    assert write(client, if_match=ETAG, if_unmodified_since=UPDATED) is None
    assert write(client) is None

    assert [request.url for request in server.requests] == [f"{API}/datasets/d-1"] * 2


def test_a_conditional_put_refused_on_a_retry_says_its_own_first_try_may_have_applied(
    make_client: ClientFactory,
) -> None:
    client, server = make_client(httpx.ReadTimeout("timed out"), reply(412, STALE))

    with pytest.raises(PreconditionFailedError) as caught:
        update(client, if_match=ETAG)

    assert str(caught.value).endswith("; an earlier attempt of this call, whose answer was lost, may have "
                                      "been applied: read the dataset again")
    assert [request.headers["If-Match"] for request in server.requests] == [ETAG, ETAG]


@pytest.mark.parametrize("if_match", ["", '"a"\r\nX-Evil: 1', '"é"'],
                         ids=["empty", "line break", "non-ASCII"])
def test_an_if_match_that_cannot_be_a_header_is_refused_by_name(
    make_client: ClientFactory, if_match: str
) -> None:
    client, server = make_client()

    with pytest.raises(ValidationError) as caught:
        update(client, if_match=if_match)

    assert [error["loc"] for error in caught.value.errors()] == [("if_match",)]
    assert server.requests == []


def test_a_conditional_update_with_the_current_updated_goes_through_over_real_http(api: UebaClient) -> None:
    """Against the reference server (which may or may not honour the headers), a write conditioned on the
    definition just read is accepted."""
    now = datetime.now(UTC)
    dataset = Dataset(time_range_settings=TimeRange(start=now - timedelta(days=30), end=now),
                      comment="conditional write")
    dataset_id = api.create_dataset(dataset)
    try:
        read = api.get_dataset(dataset_id)
        assert read.updated is not None
        api.update_dataset(dataset_id, read.model_copy(update={"comment": "edited"}),
                           if_unmodified_since=read.updated)
        assert api.get_dataset(dataset_id).comment == "edited"
        api.delete_dataset(dataset_id, if_unmodified_since=api.get_dataset(dataset_id).updated)
    finally:
        with contextlib.suppress(NotFoundError):
            api.delete_dataset(dataset_id)
