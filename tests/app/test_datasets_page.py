"""The datasets page over real HTTP: the table, opening a dataset, duplicate, activate/deactivate, delete."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from tests.app.conftest import select_dataset, train_and_wait, unescaped
from ueba_api.client import UebaClient
from ueba_api.models import Dataset, Period
from ui import listing


def row_of(app: AppTest, dataset_id: str) -> dict:
    [table] = [frame.value for frame in app.dataframe if (frame.key or "").startswith("datasets.table")]
    return table[table["id"] == dataset_id].iloc[0].to_dict()


def test_the_table_shows_each_dataset_with_its_size(
    app: AppTest, api: UebaClient, new_dataset: Callable[..., Dataset]
) -> None:
    dataset = new_dataset()
    start = dataset.time_range_settings.start
    excluded = Period(start=start.replace(day=2), end=start.replace(day=3))
    api.update_dataset(dataset.id, dataset.model_copy(update={
        "time_range_settings": dataset.time_range_settings.model_copy(update={"exclude": [excluded]})}))
    app.run()
    assert not app.exception and not app.error
    assert app.title[0].value == "Datasets"
    row = row_of(app, dataset.id)
    # Counts are not asked for per dataset (1,000 requests on a real PrivX): blank until known.
    assert (row["comment"], row["exclusions"], row["runs"]) == (dataset.comment, 1, 0)
    assert pd.isna(row["connections"])
    assert row["start"] == dataset.time_range_settings.start
    assert row["active"] == ""
    # Never trained: no status and no training time, drawn as "—" rather than "None".
    assert pd.isna(row["latest_status"]) and pd.isna(row["last_training"])
    [table] = [frame for frame in app.dataframe if (frame.key or "").startswith("datasets.table")]
    assert table.proto.placeholder == "—"
    # Every time column is absolute and says it is UTC.
    columns = json.loads(table.proto.columns)
    time_columns = {name: config for name, config in columns.items() if config.get("type_config", {})
                    .get("type") == "datetime"}
    assert set(time_columns) == {"start", "end", "last_training"}
    for name, config in time_columns.items():
        assert config["label"].endswith("(UTC)"), name
        assert config["type_config"]["format"] == "YYYY-MM-DD HH:mm", name
    assert app.main.caption[-1].value.startswith("Select a row to open that dataset. Listed by the server")
    assert listed_at(app) <= datetime.now(UTC)

    # The selected dataset's panel counts its own connections; the table shows the count from then on.
    expected_count = api.count_connections(api.get_dataset(dataset.id).time_range_settings)
    select_dataset(app, dataset.id)
    assert f"{expected_count:,} connections" in app.main.caption[-1].value + app.main.caption[-2].value
    app.run()
    assert row_of(app, dataset.id)["connections"] == expected_count


def listed_ids(app: AppTest) -> list[str]:
    [table] = [frame.value for frame in app.dataframe if (frame.key or "").startswith("datasets.table")]
    return list(table["id"])


def listed_at(app: AppTest) -> datetime:
    """The time the table's caption says the server listed the datasets at."""
    [caption] = [caption.value for caption in app.main.caption if "Listed by the server at" in caption.value]
    stamp = caption.removeprefix("Select a row to open that dataset. Listed by the server at ")
    # describe_time leaves out seconds only on a whole minute, to the microsecond.
    pattern = "%Y-%m-%d %H:%M:%S UTC." if stamp.count(":") == 2 else "%Y-%m-%d %H:%M UTC."
    return datetime.strptime(stamp, pattern).replace(tzinfo=UTC)


def test_refresh_shows_what_another_client_changed_and_forgets_the_counts(
    app: AppTest, api: UebaClient, new_dataset: Callable[..., Dataset]
) -> None:
    counted = new_dataset()
    select_dataset(app.run(), counted.id)
    app.run()
    count = row_of(app, counted.id)["connections"]
    assert count == api.count_connections(counted.time_range_settings)
    first_listed = listed_at(app)

    time.sleep(1.1)  # the caption's time has seconds: the next listing's must read later
    made_elsewhere = new_dataset()  # through the API, as another user or a script would
    app.run()
    assert made_elsewhere.id not in listed_ids(app), "the shared list is kept, not asked for at every run"
    assert listed_at(app) == first_listed
    assert "kept for up to 60 s" in app.button(key="datasets.refresh").help

    app.button(key="datasets.refresh").click().run()
    assert not app.exception and not app.error
    assert made_elsewhere.id in listed_ids(app)
    assert first_listed < listed_at(app) <= datetime.now(UTC)
    # The counts were forgotten with the list: the table shows none it has not asked for again (the
    # selected dataset's panel asks, and the next run shows it).
    assert pd.isna(row_of(app, counted.id)["connections"])
    app.run()
    assert row_of(app, counted.id)["connections"] == count


def test_selecting_a_row_opens_the_dataset_and_duplicate_copies_it(
    app: AppTest, api: UebaClient, new_dataset: Callable[..., Dataset]
) -> None:
    dataset = new_dataset()
    # A duplicate is the same definition: the flag that activates the dataset once trained comes along.
    api.update_dataset(dataset.id, dataset.model_copy(update={"use_for_inference_once_trained": True}))
    select_dataset(app.run(), dataset.id)
    assert unescaped(app.subheader[0].value) == dataset.comment
    app.button(key="datasets.open").click().run()
    assert app.query_params["dataset"] == dataset.id
    assert unescaped(app.title[0].value) == dataset.comment  # the editor, on that dataset

    select_dataset(app.switch_page("pages/datasets.py").run(), dataset.id)
    app.button(key="datasets.duplicate").click().run()
    assert not app.exception and not app.error
    copy_id = app.query_params["dataset"]
    copy = api.get_dataset(copy_id)
    try:
        assert copy_id != dataset.id
        assert copy.comment == f"{dataset.comment} (copy)"
        assert copy.time_range_settings == dataset.time_range_settings
        assert copy.use_for_inference_once_trained
        assert unescaped(app.title[0].value) == copy.comment
    finally:
        api.delete_dataset(copy_id)


@pytest.mark.usefixtures("no_active_dataset")
def test_activate_refuses_delete_then_deactivate(
    app: AppTest, api: UebaClient, new_dataset: Callable[..., Dataset]
) -> None:
    never_trained = new_dataset()
    select_dataset(app.run(), never_trained.id)
    assert app.button(key=f"datasets.activate.{never_trained.id}").disabled, (
        "only a trained dataset can be activated")

    dataset = new_dataset()
    train_and_wait(api, dataset.id)
    # Made and trained through the API, not the app: the shared list shows them after its TTL (or its
    # next check of /status/internal); a user would wait, the test drops it.
    listing.forget_listing()
    select_dataset(app.run(), dataset.id)
    app.button(key=f"datasets.activate.{dataset.id}").click().run()
    assert not api.get_dataset(dataset.id).is_active, "nothing changes before the confirmation"
    assert "will be analyzed with the model" in " ".join(markdown.value for markdown in app.markdown)
    app.button(key=f"datasets.activate.{dataset.id}:confirm").click().run()
    assert not app.exception and not app.error
    assert api.get_dataset(dataset.id).is_active
    assert row_of(app, dataset.id)["active"] == "● active"

    delete = app.button(key=f"datasets.delete.{dataset.id}")
    assert delete.disabled
    assert delete.help == "The active dataset cannot be deleted: deactivate it first."
    assert "cannot be deleted or changed: deactivate it first" in app.main.caption[-1].value

    app.button(key=f"datasets.deactivate.{dataset.id}").click().run()
    app.button(key=f"datasets.deactivate.{dataset.id}:confirm").click().run()
    assert not api.get_dataset(dataset.id).is_active
    assert not app.button(key=f"datasets.delete.{dataset.id}").disabled


def dialog_buttons(app: AppTest) -> list[str]:
    """The keys of the confirm buttons of the dialogs open now."""
    return [button.key for button in app.button if (button.key or "").endswith(":confirm")]


def test_a_confirmation_left_open_asks_about_nothing_else(
    app: AppTest, new_dataset: Callable[..., Dataset]
) -> None:
    first, second = new_dataset(), new_dataset()
    select_dataset(app.run(), first.id)
    app.button(key=f"datasets.delete.{first.id}").click().run()
    assert dialog_buttons(app) == [f"datasets.delete.{first.id}:confirm"]
    assert "This cannot be undone." in " ".join(markdown.value for markdown in app.markdown)

    # Another row selected while the dialog is open (no on_dismiss in between): no dialog for that one.
    select_dataset(app, second.id)
    assert dialog_buttons(app) == []
    assert app.subheader[0].value == second.comment

    # Leaving the page with the dialog open, as the sidebar or the browser's back button do, fires no
    # on_dismiss either: on return the dialog stays closed, whichever row is selected.
    select_dataset(app, first.id)
    assert dialog_buttons(app) == [f"datasets.delete.{first.id}:confirm"]
    app.switch_page("pages/connection.py").run()
    assert app.title[0].value == "Connection"
    select_dataset(app.switch_page("pages/datasets.py").run(), first.id)
    assert not app.exception
    assert dialog_buttons(app) == []
    assert "This cannot be undone." not in " ".join(markdown.value for markdown in app.markdown)
