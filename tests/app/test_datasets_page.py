"""The datasets page over real HTTP: the table, opening a dataset, duplicate, activate/deactivate, delete."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from tests.app.conftest import select_dataset, train_and_wait
from ueba_api.client import UebaClient
from ueba_api.models import Dataset, Period


@pytest.fixture
def no_active_dataset(api: UebaClient) -> Iterator[None]:
    """Runs a test with no active dataset; the one active before (other tests') is active again after."""
    before = next((dataset.id for dataset in api.list_datasets().items if dataset.is_active), None)
    api.stop_analyzing()
    yield
    api.stop_analyzing()
    if before:
        api.start_analyzing(before)


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
    expected_count = api.count_connections(api.get_dataset(dataset.id).time_range_settings)
    assert (row["comment"], row["exclusions"], row["connections"], row["runs"]) == (
        dataset.comment, 1, expected_count, 0)
    assert row["start"] == dataset.time_range_settings.start
    assert row["active"] == ""
    # Never trained: no status and no training time, drawn as "—" rather than "None".
    assert pd.isna(row["latest_status"]) and pd.isna(row["last_training"])
    [table] = [frame for frame in app.dataframe if (frame.key or "").startswith("datasets.table")]
    assert table.proto.placeholder == "—"
    assert app.main.caption[-1].value == "Select a row to open that dataset."


def test_selecting_a_row_opens_the_dataset_and_duplicate_copies_it(
    app: AppTest, api: UebaClient, new_dataset: Callable[..., Dataset]
) -> None:
    dataset = new_dataset()
    select_dataset(app.run(), dataset.id)
    assert app.subheader[0].value == dataset.comment
    app.button(key="datasets.open").click().run()
    assert app.query_params["dataset"] == dataset.id
    assert app.title[0].value == dataset.comment  # the editor, on that dataset

    select_dataset(app.switch_page("pages/datasets.py").run(), dataset.id)
    app.button(key="datasets.duplicate").click().run()
    assert not app.exception and not app.error
    copy_id = app.query_params["dataset"]
    copy = api.get_dataset(copy_id)
    try:
        assert copy_id != dataset.id
        assert copy.comment == f"{dataset.comment} (copy)"
        assert copy.time_range_settings == dataset.time_range_settings
        assert app.title[0].value == copy.comment
    finally:
        api.delete_dataset(copy_id)


@pytest.mark.usefixtures("no_active_dataset")
def test_activate_refuses_delete_then_deactivate(
    app: AppTest, api: UebaClient, new_dataset: Callable[..., Dataset]
) -> None:
    never_trained = new_dataset()
    select_dataset(app.run(), never_trained.id)
    assert app.button(key="datasets.activate").disabled, "only a trained dataset can be activated"

    dataset = new_dataset()
    train_and_wait(api, dataset.id)
    select_dataset(app.run(), dataset.id)
    app.button(key="datasets.activate").click().run()
    assert not api.get_dataset(dataset.id).is_active, "nothing changes before the confirmation"
    assert "will be analyzed with the model" in " ".join(markdown.value for markdown in app.markdown)
    app.button(key="datasets.activate:confirm").click().run()
    assert not app.exception and not app.error
    assert api.get_dataset(dataset.id).is_active
    assert row_of(app, dataset.id)["active"] == "● active"

    delete = app.button(key="datasets.delete")
    assert delete.disabled
    assert delete.help == "The active dataset cannot be deleted: deactivate it first."
    assert "cannot be deleted or changed: deactivate it first" in app.main.caption[-1].value

    app.button(key="datasets.deactivate").click().run()
    app.button(key="datasets.deactivate:confirm").click().run()
    assert not api.get_dataset(dataset.id).is_active
    assert not app.button(key="datasets.delete").disabled
