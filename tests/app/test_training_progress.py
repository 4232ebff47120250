"""The training page's progress panel over real HTTP: while a run is TRAINING, each run of the page shows
the epochs the API has so far with their losses, and the curve grows across polls. At every poll the
history table and the run under review say the same epochs and losses as the panel: the page draws them
all from its one fetch of the dataset (counted by a proxy in front of the server).

This test has its own reference server with many epochs, so that a training lasts several seconds and
the page can be run again and again while it trains (AppTest never fires run_every: each poll is a run).
Around each run the API is asked for the run's epochs, so the check does not depend on timing luck: the
panel must show between the epochs reported just before and just after the run, with the API's losses.

AppTest's element tree does not expose a fragment's run_every. The server sends it to the browser as a
separate `auto_rerun` ForwardMsg (interval, fragment_id), which the tree leaves out; the messages are
recorded here through `ForwardMsgQueue.on_before_enqueue_msg`, Streamlit's own hook for that.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

import pytest
from streamlit.dataframe_util import convert_arrow_bytes_to_pandas_df
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.runtime.forward_msg_queue import ForwardMsgQueue
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import Status

from tests.app.conftest import APP, RUN_TIMEOUT, TRAINING_TIMEOUT, privx_secrets, status_detail
from tests.app.counting_proxy import CountingProxy
from ueba_api.client import UebaClient
from ueba_api.models import Dataset, TimeRange, TrainingResult, TrainingStatus
from ueba_server.launch import RunningServer, start_server
from ueba_server.openapi import UEBA_PREFIX

TRAINING_PAGE = "pages/training.py"
# 10k connections train at 0.05 to 0.2 s an epoch on a busy 2-core machine, after 1 to 3 s of loading: with
# 40 epochs the run stays TRAINING for several page runs (each takes 0.2 to 1 s).
CONNECTIONS = 10_000
EPOCHS = 40
SEED = 5
PAUSE_SECONDS = 0.2  # between polls, to leave the training worker some CPU
PANEL_LABEL = re.compile(r"Training (?P<run>.+?)(?: on [\d,]+ connections)?: (?P<epochs>\d+) epochs done")


@pytest.fixture(scope="module")
def progress_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with start_server(tmp_path_factory.mktemp("ueba-progress-server"), connections=CONNECTIONS, seed=SEED,
                      epochs=EPOCHS) as server:
        yield server


@pytest.fixture
def sent_messages() -> Iterator[list[ForwardMsg]]:
    """Every ForwardMsg the app enqueues for the browser, auto_rerun included."""
    messages: list[ForwardMsg] = []
    ForwardMsgQueue.on_before_enqueue_msg(messages.append)
    yield messages
    ForwardMsgQueue.on_before_enqueue_msg(None)


@dataclass
class Poll:
    """What one run of the page showed in its progress panel, and what the API said around it."""

    before: TrainingResult
    after: TrainingResult
    panel: Status | None
    auto_reruns: list[ForwardMsg]
    panel_fragment_ids: list[str]
    history: list[dict]
    """The history table's rows as the page gave them to st.dataframe."""
    run_caption: str | None
    """The caption that says what the run under review is."""
    dataset_fetches: int
    """`GET /datasets/{id}` requests the page run made."""

    @property
    def training_throughout(self) -> bool:
        """The run was TRAINING before and after the page ran, so the page saw it TRAINING."""
        return self.after.status == TrainingStatus.TRAINING


def latest(api: UebaClient, dataset_id: str) -> TrainingResult:
    result = api.get_dataset(dataset_id).latest_result
    assert result is not None
    return result


def run_page(app: AppTest, messages: list[ForwardMsg]) -> tuple[Status | None, list[ForwardMsg], list[str]]:
    """Runs the page once: its progress panel (if any), the auto_rerun messages, and the fragment ids of
    the deltas that drew the panel (a status block is an expandable block)."""
    messages.clear()
    app.run()
    assert not app.exception, [(error.message, *error.stack_trace) for error in app.exception]
    panels = list(app.status)
    assert len(panels) <= 1, [panel.label for panel in panels]
    auto_reruns = [message for message in messages if message.HasField("auto_rerun")]
    panel_fragments = [
        message.delta.fragment_id for message in messages
        if message.HasField("delta") and message.delta.WhichOneof("type") == "add_block"
        and message.delta.add_block.WhichOneof("type") == "expandable"
        and PANEL_LABEL.fullmatch(message.delta.add_block.expandable.label)
    ]
    return (panels[0] if panels else None), auto_reruns, panel_fragments


def chart_losses(panel: Status) -> list[tuple[int, str, float]]:
    """The (epoch, split, loss) points of the panel's one chart, from the data sent beside its spec."""
    [chart] = panel.get("vega_lite_chart")
    [dataset] = chart.proto.datasets
    records = convert_arrow_bytes_to_pandas_df(dataset.data.data).to_dict("records")
    return sorted((int(row["epoch"]), row["split"], row["loss"]) for row in records)


def api_losses(result: TrainingResult, epochs: int) -> list[tuple[int, str, float]]:
    """The API's (epoch, split, loss) points of the first `epochs` epochs."""
    splits = {"training": result.training_dataset_loss, "validation": result.validation_dataset_loss}
    return sorted((epoch, split, loss) for split, losses in splits.items()
                  for epoch, loss in enumerate(losses[:epochs], start=1))


def check_one_truth(poll: Poll, epochs: int) -> None:
    """The history row and the run under review say what the panel says: its epochs, its last losses."""
    assert poll.dataset_fetches == 1, f"{poll.dataset_fetches} fetches of the dataset in one run of the page"
    [row] = poll.history
    assert row["status"] == "TRAINING" and row["epochs"] == epochs, (row, epochs)
    assert poll.run_caption is not None and poll.run_caption.endswith(f" · {epochs} epochs"), poll.run_caption
    if epochs:
        points = {(epoch, split): loss for epoch, split, loss in chart_losses(poll.panel)}
        assert row["final_training_loss"] == points[(epochs, "training")]
        assert row["final_validation_loss"] == points[(epochs, "validation")]


def check_panel(poll: Poll) -> int:
    """Checks a poll's panel against the API and returns the epochs done it shows."""
    panel = poll.panel
    assert panel is not None
    assert panel.state == "running", f"the panel of a run still training shows {panel.state!r}"
    label = PANEL_LABEL.fullmatch(panel.label)
    assert label, panel.label
    epochs = int(label["epochs"])
    done_before, done_after = len(poll.before.training_dataset_loss), len(poll.after.training_dataset_loss)
    assert done_before <= epochs <= done_after, (
        f"the panel says {epochs} epochs done; the API had {done_before} before the run, {done_after} after")
    if epochs:
        points = chart_losses(panel)
        assert max(epoch for epoch, _, _ in points) == epochs, "the chart has the epochs the label says"
        assert points == api_losses(poll.after, epochs), "the chart draws the API's losses"
    else:
        assert panel.get("vega_lite_chart") == []
        assert "Waiting for the first epoch…" in [caption.value for caption in panel.caption]
    # The panel is the fragment that polls: one auto_rerun, for the fragment that drew it.
    assert len(poll.auto_reruns) == 1, f"{len(poll.auto_reruns)} auto_rerun messages (run_every), not 1"
    auto_rerun = poll.auto_reruns[0].auto_rerun
    assert auto_rerun.interval > 0
    captions = [caption.value for caption in panel.caption]
    assert any(f"refreshed every {auto_rerun.interval:g} s." in caption for caption in captions), captions
    assert poll.panel_fragment_ids and set(poll.panel_fragment_ids) == {auto_rerun.fragment_id}
    check_one_truth(poll, epochs)
    return epochs


def test_the_progress_panel_grows_with_the_training(
    progress_server: RunningServer, sent_messages: list[ForwardMsg]
) -> None:
    with progress_server.client() as api, CountingProxy(progress_server.base_url) as proxy:
        follow_a_training(api, progress_server, sent_messages, proxy)


def page_state(app: AppTest, proxy: CountingProxy, dataset_id: str) -> tuple[list[dict], str | None, int]:
    """The history rows, the run caption, and the dataset fetches of the page run just made."""
    history = [frame.value for frame in app.dataframe]  # the page's one table
    captions = [caption.value for caption in app.caption if caption.value.startswith("Run #")]
    fetches = [exchange for exchange in proxy.take()
               if exchange.path == f"{UEBA_PREFIX}/datasets/{dataset_id}" and exchange.method == "GET"]
    return (history[0].to_dict("records") if history else [], captions[0] if captions else None,
            len(fetches))


def follow_a_training(api: UebaClient, server: RunningServer, sent_messages: list[ForwardMsg],
                      proxy: CountingProxy) -> None:
    first = datetime.fromisoformat(status_detail(api, "connections_first"))
    last = datetime.fromisoformat(status_detail(api, "connections_last"))
    dataset_id = api.create_dataset(Dataset(time_range_settings=TimeRange(start=first, end=last),
                                            comment="progress panel"))

    app = AppTest.from_file(APP, default_timeout=RUN_TIMEOUT)
    app.secrets["privx"] = privx_secrets(server, base_url=proxy.url)
    app.run()  # the first run registers the pages of st.navigation
    app.query_params["dataset"] = dataset_id
    app.switch_page(TRAINING_PAGE)
    panel, auto_reruns, _ = run_page(app, sent_messages)
    assert panel is None and auto_reruns == [], "no panel and no polling before any training"

    api.train_dataset(dataset_id)
    polls: list[Poll] = []
    deadline = time.monotonic() + TRAINING_TIMEOUT
    while (before := latest(api, dataset_id)).status == TrainingStatus.TRAINING:
        assert time.monotonic() < deadline, f"still TRAINING after {TRAINING_TIMEOUT} s"
        proxy.take()
        panel, auto_reruns, fragment_ids = run_page(app, sent_messages)
        polls.append(Poll(before, latest(api, dataset_id), panel, auto_reruns, fragment_ids,
                          *page_state(app, proxy, dataset_id)))
        time.sleep(PAUSE_SECONDS)
    assert before.status == TrainingStatus.SUCCESS, before.error_details
    assert len(before.training_dataset_loss) == EPOCHS

    # Every panel shows what the API had around its run. The polls that began and ended with the run
    # TRAINING (the page saw it TRAINING throughout) must have one; those are the ones whose counts grow.
    training = [poll for poll in polls if poll.training_throughout]
    assert all(poll.panel is not None for poll in training), "a TRAINING run has its progress panel"
    shown = [check_panel(poll) for poll in training]
    for poll in polls:
        if poll.panel is not None and not poll.training_throughout:
            check_panel(poll)  # drawn just before the run ended

    assert len(training) >= 2, f"only {len(training)} polls saw the run TRAINING throughout: train for longer"
    assert shown == sorted(shown), f"the epochs done went back: {shown}"
    drawn = sorted(set(shown) - {0})
    assert len(drawn) >= 2, f"the curve was not seen growing while TRAINING (epochs done per poll: {shown})"

    # After SUCCESS: no panel, and nothing polls any more.
    panel, auto_reruns, _ = run_page(app, sent_messages)
    assert panel is None and auto_reruns == [], "no panel and no polling after the training"
