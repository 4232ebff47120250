"""Fuzzing the reference server from its own `/openapi.json` with schemathesis: every UEBA operation, with
valid and invalid input, logged in. No answer is a 5xx, and every 4xx carries the contract's error body.

The server is one of this module's own (small history, one epoch), as fuzzing stops analyzing, changes
the anomaly settings and deletes datasets. Half the cases that name a dataset name a real one, so the
fuzzer gets past "not found" into updates, trainings and deletes.

The fast part derandomizes hypothesis (the same cases each run); `slow` runs more, random cases.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.core import NotSet

from ueba_api.client import API_PREFIX
from ueba_api.models import ErrorCode
from ueba_server.launch import RunningServer, start_server

FAST_EXAMPLES = 20  # per operation and generation mode: 17 operations give some 550 cases
SLOW_EXAMPLES = int(os.environ.get("UEBA_FUZZ_EXAMPLES", "100"))
ERROR_BODY_KEYS = {"error_code", "error_message", "property", "details"}
CONTRACT_CODES = {code.value for code in ErrorCode}


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with start_server(tmp_path_factory.mktemp("fuzz-server"), connections=12_000, seed=5, epochs=1) as server:
        yield server


class Fuzzer:
    """Sends schemathesis cases to the server, logged in, and checks each answer; counts the cases."""

    def __init__(self, server: RunningServer) -> None:
        self.server = server
        self.http = httpx.Client(base_url=server.base_url, timeout=30.0)
        token = self.http.post(
            "/auth/api/v1/oauth/token",
            data={"grant_type": "password", "username": server.client_id, "password": server.client_secret},
            auth=(server.oauth_client_id, server.oauth_client_secret),
        ).json()["access_token"]
        self.headers = {"Authorization": f"Bearer {token}"}
        self.cases: Counter[str] = Counter()
        self.statuses: Counter[int] = Counter()
        self._live_id: str | None = None

    def live_dataset(self) -> str:
        """The id of a dataset that exists (made anew after a fuzzed DELETE removed the last one)."""
        if self._live_id is not None:
            found = self.http.get(f"{API_PREFIX}/datasets/{self._live_id}", headers=self.headers)
            if found.status_code == 200:
                return self._live_id
        now = datetime.now(UTC)
        body = {"time_range_settings": {"start": (now - timedelta(days=400)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                                        "end": now.strftime("%Y-%m-%dT%H:%M:%SZ")},
                "comment": "fuzz target"}
        made = self.http.post(f"{API_PREFIX}/datasets", json=body, headers=self.headers)
        assert made.status_code == 201, made.text
        self._live_id = made.json()["id"]
        return self._live_id

    def run(self, case: Any, use_live_dataset: bool) -> None:
        if use_live_dataset and "dataset_id" in (case.path_parameters or {}):
            case.path_parameters["dataset_id"] = self.live_dataset()
        response = case.call(base_url=self.server.base_url, headers=self.headers, timeout=30)
        self.cases[f"{case.method} {case.operation.path}"] += 1
        self.statuses[response.status_code] += 1
        body = "" if isinstance(case.body, NotSet) else repr(case.body)[:300]
        sent = f"{case.method} {case.formatted_path} {case.query or ''} {case.headers or ''} {body}"
        assert response.status_code < 500, f"{sent} -> {response.status_code} {response.text[:500]}"
        if 400 <= response.status_code < 500:
            content_type = {name.lower(): values for name, values in response.headers.items()}["content-type"]
            assert content_type[0].startswith("application/json"), f"{sent} -> {content_type}"
            body = json.loads(response.content)
            assert set(body) == ERROR_BODY_KEYS, f"{sent} -> {body}"
            assert body["error_code"] in CONTRACT_CODES, f"{sent} -> {body}"
            assert isinstance(body["error_message"], str) and body["error_message"], f"{sent} -> {body}"


def fuzz(server: RunningServer, examples: int, *, derandomize: bool) -> Fuzzer:
    schema = schemathesis.openapi.from_url(server.base_url + "/openapi.json")
    fuzzer = Fuzzer(server)
    operations = [result.ok() for result in schema.get_all_operations()]
    ueba = [operation for operation in operations if operation.path.startswith(API_PREFIX)]
    assert len(ueba) == 17, [operation.path for operation in ueba]
    for operation in ueba:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @settings(max_examples=examples, deadline=None, database=None, derandomize=derandomize,
                      phases=[Phase.explicit, Phase.generate],
                      suppress_health_check=list(HealthCheck))
            @given(case=operation.as_strategy(generation_mode=mode), use_live_dataset=st.booleans())
            def one_case(case: Any, use_live_dataset: bool) -> None:
                fuzzer.run(case, use_live_dataset)

            try:
                one_case()
            except Unsatisfiable:
                # No invalid input exists for an operation without parameters or body (GET /status).
                assert mode is GenerationMode.NEGATIVE, operation.path
    return fuzzer


def test_every_ueba_operation_survives_fuzzing_with_contract_errors(fuzz_server: RunningServer) -> None:
    fuzzer = fuzz(fuzz_server, FAST_EXAMPLES, derandomize=True)

    assert len(fuzzer.cases) == 17
    assert sum(fuzzer.cases.values()) >= 500, fuzzer.cases
    assert fuzzer.statuses[200] + fuzzer.statuses[201] > 0 and fuzzer.statuses[400] > 0, fuzzer.statuses


@pytest.mark.slow
def test_every_ueba_operation_survives_long_random_fuzzing(fuzz_server: RunningServer) -> None:
    fuzzer = fuzz(fuzz_server, SLOW_EXAMPLES, derandomize=False)

    assert sum(fuzzer.cases.values()) >= 17 * SLOW_EXAMPLES, fuzzer.cases
