"""The Train dialog warns about a dataset known to hold fewer connections than a training needs."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from streamlit.testing.v1 import AppTest

from tests.app.conftest import history_month
from tests.app.test_training_page import open_training
from ueba_api.client import UebaClient
from ueba_api.limits import MIN_TRAINING_CONNECTIONS
from ueba_api.models import Dataset


def dialog_text(app: AppTest, dataset_id: str) -> str:
    app.button(key=f"training.train.{dataset_id}").click().run()
    assert "Start training" in [button.label for button in app.button]
    return " ".join(markdown.value for markdown in app.markdown)


def test_a_dataset_below_the_minimum_is_warned_about_before_training(
    app: AppTest, api: UebaClient, new_dataset: Callable[..., Dataset]
) -> None:
    start, _ = history_month(api)
    one_day = new_dataset(start=start, end=start + timedelta(days=1))
    count = api.count_connections(one_day.time_range_settings)
    assert count < MIN_TRAINING_CONNECTIONS
    open_training(app, one_day.id)
    assert (f"**It holds only {count:,} connections**, and a training needs at least "
            f"{MIN_TRAINING_CONNECTIONS:,}: PrivX will refuse it.") in dialog_text(app, one_day.id)


def test_a_large_enough_dataset_gets_no_warning(
    app: AppTest, api: UebaClient, new_dataset: Callable[..., Dataset]
) -> None:
    month = new_dataset()
    assert api.count_connections(month.time_range_settings) >= MIN_TRAINING_CONNECTIONS
    open_training(app, month.id)
    assert "It holds only" not in dialog_text(app, month.id)
