"""Conditional PUT and DELETE of a dataset (an extension of the contract): a GET gives the definition's
ETag and Last-Modified; a write that names an older version is refused with 412 and the contract's
error body, and changes nothing. Without the headers, writes work as the contract says."""

from __future__ import annotations

import time
from collections.abc import Iterator
from email.utils import format_datetime, parsedate_to_datetime

import httpx
import pytest

from .test_bad_input import assert_contract_error

BODY = {"time_range_settings": {"start": "2024-01-01T00:00:00Z"}, "comment": "first"}


@pytest.fixture
def dataset(raw: httpx.Client) -> Iterator[str]:
    dataset_id = raw.post("/datasets", json=BODY).json()["id"]
    yield dataset_id
    raw.delete(f"/datasets/{dataset_id}")


def test_a_get_carries_the_definitions_etag_and_last_modified(raw: httpx.Client, dataset: str) -> None:
    response = raw.get(f"/datasets/{dataset}")
    updated = response.json()["updated"]
    assert response.headers["etag"] == f'"{updated}"'
    modified = parsedate_to_datetime(response.headers["last-modified"])
    assert format_datetime(modified, usegmt=True) == response.headers["last-modified"]
    assert abs(modified.timestamp() - parsedate_to_datetime(response.headers["date"]).timestamp()) < 60


def test_a_put_with_a_stale_etag_is_412_and_changes_nothing(raw: httpx.Client, dataset: str) -> None:
    opened = raw.get(f"/datasets/{dataset}").headers["etag"]
    time.sleep(0.01)  # `updated` has microseconds: the second editor's save makes a new ETag
    path = f"/datasets/{dataset}"
    assert raw.put(path, json=BODY | {"comment": "second"}, headers={"If-Match": opened}).status_code == 200
    stale = raw.put(path, json=BODY | {"comment": "third"}, headers={"If-Match": opened})
    body = assert_contract_error(stale, 412, "GENERAL_ERROR", "If-Match")
    assert "read it again before changing it" in body["error_message"]
    assert raw.get(f"/datasets/{dataset}").json()["comment"] == "second"
    current = raw.get(f"/datasets/{dataset}").headers["etag"]
    assert raw.put(path, json=BODY, headers={"If-Match": f'"x", {current}'}).status_code == 200


def test_a_delete_with_a_stale_etag_is_412_and_keeps_the_dataset(raw: httpx.Client, dataset: str) -> None:
    opened = raw.get(f"/datasets/{dataset}").headers["etag"]
    time.sleep(0.01)
    assert raw.put(f"/datasets/{dataset}", json=BODY | {"comment": "changed"}).status_code == 200
    stale = raw.delete(f"/datasets/{dataset}", headers={"If-Match": opened})
    assert_contract_error(stale, 412, "GENERAL_ERROR", "If-Match")
    assert raw.get(f"/datasets/{dataset}").status_code == 200
    assert raw.delete(f"/datasets/{dataset}", headers={"If-Match": "*"}).status_code == 200


def test_if_unmodified_since_refuses_a_write_after_a_later_change(raw: httpx.Client, dataset: str) -> None:
    last_modified = raw.get(f"/datasets/{dataset}").headers["last-modified"]
    earlier = format_datetime(parsedate_to_datetime(last_modified).replace(year=2020), usegmt=True)
    late = BODY | {"comment": "late"}
    stale = raw.put(f"/datasets/{dataset}", json=late, headers={"If-Unmodified-Since": earlier})
    assert_contract_error(stale, 412, "GENERAL_ERROR", "If-Unmodified-Since")
    current = raw.put(f"/datasets/{dataset}", json=BODY, headers={"If-Unmodified-Since": last_modified})
    assert current.status_code == 200
    # Not an HTTP-date: ignored, as RFC 9110 says, so the write goes through.
    assert raw.delete(f"/datasets/{dataset}", headers={"If-Unmodified-Since": "yesterday"}).status_code == 200
