"""The app behind the fault-injecting proxy (tests/robustness/fault_proxy.py), in front of the real
reference server: for each fault, the Datasets page's load and its Duplicate (a create) show one readable
sentence (no traceback, no exception repr, no HTML), the create reaches the server at most once (counted
on the server), and once the fault is gone the same session works again through the page's Retry.

The app is given short limits through its own settings (`timeout`, `deadline` in secrets), so a stalled
answer costs READ_TIMEOUT and a trickled one DEADLINE, not the app's 15 s and 30 s.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator

import pytest
from streamlit.testing.v1 import AppTest

from tests.app.conftest import select_dataset, unescaped
from tests.robustness.fault_proxy import REASONS, Fault, FaultProxy
from ueba_api.client import API_PREFIX, UebaClient
from ueba_api.models import Dataset
from ui import server

READ_TIMEOUT = 2.0
DEADLINE = 3.0
DATASETS = f"{API_PREFIX}/datasets"
# The page's request line (the sidebar's access check sends the same one first) and the create's.
LIST = f"GET {DATASETS}?logs=false&bin_count=1 "
CREATE = f"POST {DATASETS} "
LOAD_RETRY = "retry:load the datasets"
DUPLICATE_RETRY = "retry:duplicate the dataset"
MAY_HAVE_ACTED = "; the server may have received it, so check before trying again"
NO_ANSWER = ("Could not tell whether the server managed to duplicate the dataset: its answer never arrived "
             "in full.")
# What the client says of each fault, after "{method} {url}"; "#" stands for a number.
DISCONNECTED = " failed: Server disconnected without sending a response"
STALLED = " timed out waiting for the answer"
TRICKLED = " got no complete answer within its deadline of 3 s"
CUT_SHORT = (" failed: peer closed connection without sending complete message body (received # bytes, "
             "expected #)")
# Markup, Python reprs and tracebacks have no place in what the user reads.
UNREADABLE = re.compile(r"<\w+[ >/]|</\w+>|Traceback|\w+Error\(|\w+Exception\(|File \"")


def sentence_pattern(template: str, url: str) -> re.Pattern[str]:
    """`template` with "{url}" filled in, "#" matching a number and ".*" any text; the rest literal."""
    parts = [re.escape(part).replace("\\#", r"\d+").replace("\\{url\\}", re.escape(url))
             for part in template.split(".*")]
    return re.compile(".*".join(parts))


def gateway_page(status: int, method: str) -> str:
    """What a gateway's error page (the proxy's, as nginx words it) is told as: its text, not its HTML."""
    line = f"{status} {REASONS[status]}"
    return f"HTTP {line} from {method} {{url}}: a web page saying “{line} nginx”"


def assert_readable(app: AppTest) -> None:
    """No exception, and no markup or traceback in any text a reader sees (tooltips included)."""
    assert not app.exception, app.exception
    for kind in (app.error, app.warning, app.info, app.caption, app.markdown, app.toast):
        for element in kind:
            assert not UNREADABLE.search(str(element.proto)), element.proto


def table_ids(app: AppTest) -> list[str]:
    [table] = [frame for frame in app.dataframe if (frame.key or "").startswith("datasets.table")]
    return list(table.value["id"])


@pytest.fixture
def app(make_app: Callable[..., AppTest], proxy: FaultProxy) -> AppTest:
    return make_app(base_url=proxy.url, timeout=READ_TIMEOUT, deadline=DEADLINE)


def run_meeting(fault: Fault, app: AppTest) -> None:
    """Runs the app into `fault`: a stalled or trickled answer costs the settings' READ_TIMEOUT or DEADLINE
    (so the page really waited for it), and less than the app's own limits would."""
    started = time.monotonic()
    app.run()
    elapsed = time.monotonic() - started
    if fault is Fault.STALL:
        assert READ_TIMEOUT <= elapsed < server.INTERACTIVE_READ_TIMEOUT, elapsed
    if fault is Fault.TRICKLE:
        assert DEADLINE <= elapsed < 2 * server.INTERACTIVE_READ_TIMEOUT, elapsed


# Loading the Datasets page


LOAD_FAULTS = {
    Fault.DROP_BEFORE: "Cannot reach the server, so could not load the datasets. GET {url}" + DISCONNECTED,
    Fault.GATEWAY_502: gateway_page(502, "GET"),
    Fault.GATEWAY_503: gateway_page(503, "GET"),
    Fault.STALL: "Cannot reach the server, so could not load the datasets. GET {url}" + STALLED,
    Fault.TRICKLE: "Cannot reach the server, so could not load the datasets. GET {url}" + TRICKLED,
    Fault.TRUNCATE: "Cannot reach the server, so could not load the datasets. GET {url}" + CUT_SHORT,
    Fault.TRUNCATE_CLEAN: "Unexpected answer from GET {url}: Invalid JSON: EOF while parsing .* at line 1 "
                          "column # (body)",
}


@pytest.mark.parametrize("fault", list(LOAD_FAULTS), ids=lambda fault: fault.name)
def test_the_datasets_page_says_what_failed_and_loads_after_retry(
    app: AppTest, proxy: FaultProxy, new_dataset: Callable[..., Dataset], fault: Fault
) -> None:
    dataset = new_dataset()
    proxy.trickle_interval = 0.05  # the list's thousands of bytes would take minutes: the deadline ends it
    # The sidebar's access check lists the datasets first; the page's own list meets the fault.
    proxy.inject(LIST, Fault.PASS, fault)

    run_meeting(fault, app)

    assert_readable(app)
    url = f"{proxy.url}{DATASETS}?logs=false&bin_count=1"
    [error] = app.error
    shown = unescaped(error.value)
    assert sentence_pattern(LOAD_FAULTS[fault], url).fullmatch(shown), shown
    assert proxy.attempts(LIST) == 1 + 1, "the page's list was tried once"

    app.button(key=LOAD_RETRY).click().run()
    assert not app.exception and not app.error
    assert dataset.id in table_ids(app)


# Duplicate: a create, never sent twice


@pytest.fixture
def original(api: UebaClient, new_dataset: Callable[..., Dataset]) -> Iterator[Dataset]:
    """A dataset to duplicate; its copies, however many the test made, are deleted afterwards."""
    dataset = new_dataset()
    yield dataset
    for copy in copies(api, dataset):
        api.delete_dataset(copy)


def copies(api: UebaClient, dataset: Dataset) -> list[str]:
    """The ids of the dataset's copies on the server (Duplicate names them so)."""
    named = f"{dataset.comment} (copy)"
    return [listed.id for listed in api.list_datasets().items if listed.comment == named]


# fault -> (what the page says, whether the server made the copy)
CREATE_FAULTS = {
    Fault.DROP_BEFORE: (f"{NO_ANSWER} POST {{url}}{DISCONNECTED}{MAY_HAVE_ACTED}", False),
    Fault.DROP_AFTER: (f"{NO_ANSWER} POST {{url}}{DISCONNECTED}{MAY_HAVE_ACTED}", True),
    Fault.GATEWAY_502_AFTER: (gateway_page(502, "POST") + MAY_HAVE_ACTED, True),
    Fault.GATEWAY_503: (gateway_page(503, "POST"), False),
    Fault.STALL: (f"{NO_ANSWER} POST {{url}}{STALLED}{MAY_HAVE_ACTED}", True),
    Fault.TRICKLE: (f"{NO_ANSWER} POST {{url}}{TRICKLED}{MAY_HAVE_ACTED}", True),
    Fault.TRUNCATE: (f"{NO_ANSWER} POST {{url}}{CUT_SHORT}{MAY_HAVE_ACTED}", True),
    Fault.TRUNCATE_CLEAN: ("Unexpected answer from POST {url}: Invalid JSON: EOF while parsing .* at line 1 "
                           f"column # (body){MAY_HAVE_ACTED}", True),
}


@pytest.mark.parametrize("fault", list(CREATE_FAULTS), ids=lambda fault: fault.name)
def test_a_duplicate_meeting_a_fault_is_sent_once_said_and_listed_after_retry(
    app: AppTest, api: UebaClient, proxy: FaultProxy, original: Dataset, fault: Fault
) -> None:
    expected, acted = CREATE_FAULTS[fault]
    proxy.trickle_interval = 0.5  # the new id's answer is some 200 bytes: the deadline ends it
    select_dataset(app.run(), original.id)
    proxy.inject(CREATE, fault)

    run_meeting(fault, app.button(key="datasets.duplicate").click())

    assert_readable(app)
    [error] = app.error
    shown = unescaped(error.value)
    assert sentence_pattern(expected, f"{proxy.url}{DATASETS}").fullmatch(shown), shown
    assert proxy.attempts(CREATE) == 1
    made = copies(api, original)
    assert len(made) == (1 if acted else 0), "the server got the create at most once"

    # Retry shows what the server now holds: a copy made in spite of the fault is listed at once, so
    # the user sees it before duplicating again. Nothing is sent again by it.
    app.button(key=DUPLICATE_RETRY).click().run()
    assert not app.exception and not app.error
    assert set(made) <= set(table_ids(app))
    assert proxy.attempts(CREATE) == 1

    # The fault is gone: Duplicate works in the same session.
    select_dataset(app, original.id)
    app.button(key="datasets.duplicate").click().run()
    assert not app.exception and not app.error
    assert proxy.attempts(CREATE) == 2
    made_now = copies(api, original)
    assert len(made_now) == len(made) + 1
    assert app.query_params["dataset"] in made_now
