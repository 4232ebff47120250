"""The dataset editor over real HTTP: create with exclusions, count, save, reopen, edit trained, delete."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from streamlit.testing.v1 import AppTest

from tests.app.conftest import (
    history_month,
    select_dataset,
    status_detail,
    train_and_wait,
    unescaped,
    unique_comment,
    vega_specs,
)
from ueba_api.client import UebaClient
from ueba_api.models import Dataset, Period, TimeRange
from ueba_server.launch import RunningServer

EDITOR = "pages/dataset_editor.py"
NEW = "editor.new"


def naive(value: datetime) -> datetime:
    return value.replace(tzinfo=None)


def wire(value: datetime) -> str:
    """A datetime as the browser's data editor sends it for a naive column."""
    return naive(value).isoformat(timespec="milliseconds")


def edit_periods(app: AppTest, added: list[tuple[datetime, datetime | None]]) -> None:
    """Adds rows to the excluded-periods editor as the browser reports them (an empty cell is left out)."""
    rows = [{"start": wire(start)} | ({"end": wire(end)} if end else {}) for start, end in added]
    app.session_state[app.data_editor[0].key] = {"edited_rows": {}, "added_rows": rows, "deleted_rows": []}


def connections_metric(app: AppTest) -> int:
    return int(app.metric[0].value.replace(",", ""))


def open_editor(app: AppTest, dataset_id: str | None = None) -> AppTest:
    app.run()  # the first run registers the pages of st.navigation
    if dataset_id:
        app.query_params["dataset"] = dataset_id
    app.switch_page(EDITOR).run()
    assert not app.exception
    return app


def test_create_with_two_exclusions_then_reopen_edit_trained_and_delete(
    app: AppTest, make_app: Callable[..., AppTest], api: UebaClient
) -> None:
    start, end = history_month(api)
    open_editor(app)
    app.datetime_input(key=f"{NEW}.start").set_value(naive(start))
    app.datetime_input(key=f"{NEW}.end").set_value(naive(end)).run()
    whole_month = connections_metric(app)
    assert whole_month == api.count_connections(TimeRange(start=start, end=end))

    incident = (start + timedelta(days=3), start + timedelta(days=5))
    migration = (start + timedelta(days=20), start + timedelta(days=21, hours=12))
    edit_periods(app, [incident, migration])
    app.run()
    assert not app.exception and not app.error
    fewer = connections_metric(app)
    periods = [Period(start=s, end=e) for s, e in (incident, migration)]
    assert fewer < whole_month
    assert fewer == api.count_connections(TimeRange(start=start, end=end, exclude=periods))
    [chart] = vega_specs(app)
    shaded = next(layer for layer in chart["layer"] if layer["mark"]["type"] == "rect")
    assert len(chart["datasets"][shaded["data"]["name"]]) == 2

    comment = unique_comment("two exclusions")
    app.text_area(key=f"{NEW}.comment").input(comment)
    app.button(key=f"{NEW}.save").click().run()
    assert not app.exception and not app.error
    dataset_id = app.query_params["dataset"]
    saved = api.get_dataset(dataset_id)
    assert saved.comment == comment
    assert saved.time_range_settings.start == start and saved.time_range_settings.end == end
    assert saved.time_range_settings.exclude == periods
    assert any("Dataset created" in toast.value for toast in app.toast)

    # Reopen it through ?dataset= in a fresh session: the widgets hold what was saved.
    reopened = open_editor(make_app(), dataset_id)
    prefix = f"editor.{dataset_id}"
    assert unescaped(reopened.title[0].value) == comment
    assert reopened.datetime_input(key=f"{prefix}.start").value == naive(start)
    assert reopened.datetime_input(key=f"{prefix}.end").value == naive(end)
    shown = reopened.data_editor[0].value
    assert list(shown["start"]) == [naive(incident[0]), naive(migration[0])]
    assert connections_metric(reopened) == fewer

    # Edit it once trained: saving asks first, because it deletes the training history.
    train_and_wait(api, dataset_id)
    trained = open_editor(make_app(), dataset_id)
    assert trained.button(key=f"{prefix}.save").disabled, "nothing to save yet"
    trained.text_area(key=f"{prefix}.comment").input(comment + " (edited)").run()
    trained.button(key=f"{prefix}.save").click().run()
    assert api.get_dataset(dataset_id).training_results, "nothing may change before the confirmation"
    warning = " ".join(markdown.value for markdown in trained.markdown)
    assert ("Saving deletes this dataset's training history: 1 training run and their model weights. Its "
            "model is not the active one, so inference is not affected.") in warning
    assert "Changes: Comment changed." in warning
    trained.button(key=f"{prefix}.save:confirm").click().run()
    assert not trained.exception and not trained.error
    edited = api.get_dataset(dataset_id)
    assert edited.comment == comment + " (edited)" and edited.training_results == []
    assert edited.time_range_settings.exclude == periods

    # Delete it from the datasets page, after confirming.
    listing = make_app().run()
    select_dataset(listing, dataset_id)
    listing.button(key=f"datasets.delete.{dataset_id}").click().run()
    listing.button(key=f"datasets.delete.{dataset_id}:confirm").click().run()
    assert not listing.exception and not listing.error
    assert dataset_id not in {dataset.id for dataset in api.list_datasets().items}


def dataset_posts(server: RunningServer) -> int:
    """How many dataset creations the server has been asked for, from its access log."""
    access_log = (server.data_dir / "server.log").read_text()
    return access_log.count('"POST /connection-manager/api/v1/ueba/datasets ')


def test_invalid_periods_are_named_and_nothing_is_sent(
    app: AppTest, api: UebaClient, reference_server: RunningServer
) -> None:
    open_editor(app)
    start = app.datetime_input(key=f"{NEW}.start").value
    backwards = (start + timedelta(days=5), start + timedelta(days=4))
    edit_periods(app, [backwards, (start + timedelta(days=8), None)])
    app.run()
    period_1 = (f"Period 1 must end after it starts: {backwards[0]:%Y-%m-%d %H:%M} UTC – "
                f"{backwards[1]:%Y-%m-%d %H:%M} UTC.")
    period_2 = "Period 2 has no end: fill it in, or delete the row."
    assert [error.value for error in app.error] == [period_1, period_2]

    datasets_before, posts_before = api.list_datasets().items, dataset_posts(reference_server)
    app.button(key=f"{NEW}.save").click().run()
    assert app.error[-1].value == f"Not saved. {period_1} {period_2}"
    assert "dataset" not in app.query_params
    # The access log would show a request even had the server refused it.
    assert dataset_posts(reference_server) == posts_before
    assert api.list_datasets().items == datasets_before


def test_overlapping_periods_are_offered_a_merge(app: AppTest, api: UebaClient) -> None:
    open_editor(app)
    start = app.datetime_input(key=f"{NEW}.start").value
    edit_periods(app, [(start + timedelta(days=1), start + timedelta(days=3)),
                       (start + timedelta(days=2), start + timedelta(days=4))])
    app.run()
    assert [warning.value for warning in app.warning if "overlaps" in warning.value] == [
        f"Period 2 ({start + timedelta(days=2):%Y-%m-%d %H:%M} UTC – "
        f"{start + timedelta(days=4):%Y-%m-%d %H:%M} UTC) overlaps period 1."
    ]
    app.button(key=f"{NEW}.merge").click().run()
    merged = app.data_editor[0].value
    assert list(merged["start"]) == [start + timedelta(days=1)]
    assert list(merged["end"]) == [start + timedelta(days=4)]
    assert not [warning for warning in app.warning if "overlaps" in warning.value]


def test_no_merge_while_a_row_is_unfinished_so_no_row_is_lost(app: AppTest) -> None:
    open_editor(app)
    start = app.datetime_input(key=f"{NEW}.start").value
    overlapping = [(start + timedelta(days=1), start + timedelta(days=3)),
                   (start + timedelta(days=2), start + timedelta(days=4))]
    later = start + timedelta(days=8)
    edit_periods(app, [*overlapping, (later, None)])  # the third row's end is still being typed
    app.run()
    assert [error.value for error in app.error] == ["Period 3 has no end: fill it in, or delete the row."]
    merge = app.button(key=f"{NEW}.merge")
    assert merge.disabled, "a merge keeps complete periods only: it would drop the unfinished row"
    assert "Complete or delete the periods marked in red first" in merge.help

    edit_periods(app, [*overlapping, (later, later + timedelta(days=1))])
    app.run()
    assert not app.button(key=f"{NEW}.merge").disabled
    app.button(key=f"{NEW}.merge").click().run()
    merged = app.data_editor[0].value
    assert list(zip(merged["start"], merged["end"], strict=True)) == [
        (start + timedelta(days=1), start + timedelta(days=4)), (later, later + timedelta(days=1))]


def test_all_data_spans_the_whole_history(app: AppTest, api: UebaClient) -> None:
    open_editor(app)
    app.button(key=f"{NEW}.preset.all").click().run()
    first = datetime.fromisoformat(status_detail(api, "connections_first"))
    last = datetime.fromisoformat(status_detail(api, "connections_last"))
    midnight = {"hour": 0, "minute": 0, "second": 0, "microsecond": 0}
    assert app.datetime_input(key=f"{NEW}.start").value == naive(first.replace(**midnight))
    assert app.datetime_input(key=f"{NEW}.end").value == naive(last.replace(**midnight) + timedelta(days=1))
    assert connections_metric(app) == api.count_connections()


def test_unknown_dataset_is_a_readable_not_found(app: AppTest) -> None:
    open_editor(app, "00000000-0000-4000-8000-000000000000")
    assert [error.value for error in app.error] == [
        "Dataset not found: there is no dataset with id `00000000-0000-4000-8000-000000000000`. "
        "It may have been deleted."
    ]
    assert not app.datetime_input


def test_active_dataset_cannot_be_saved(
    app: AppTest, api: UebaClient, new_dataset: Callable[..., Dataset]
) -> None:
    dataset = new_dataset()
    train_and_wait(api, dataset.id)
    previous = next((item.id for item in api.list_datasets().items if item.is_active), None)
    api.start_analyzing(dataset.id)
    try:
        open_editor(app, dataset.id)
        assert app.button(key=f"editor.{dataset.id}.save").disabled
        assert "cannot be changed" in app.info[0].value
    finally:
        api.stop_analyzing()
        if previous:
            api.start_analyzing(previous)


def save_button(app: AppTest, dataset_id: str):
    return app.button(key=f"editor.{dataset_id}.save")


def test_with_no_change_there_is_nothing_to_save(
    app: AppTest, api: UebaClient, new_dataset: Callable[..., Dataset]
) -> None:
    dataset = new_dataset()
    train_and_wait(api, dataset.id)
    open_editor(app, dataset.id)
    button = save_button(app, dataset.id)
    assert (button.label, button.disabled) == ("Nothing to save", True)
    assert not app.get("dialog") and len(api.get_dataset(dataset.id).training_results) == 1


def test_a_merge_that_keeps_the_connections_still_asks_and_says_what_is_lost(
    app: AppTest, api: UebaClient, new_dataset: Callable[..., Dataset]
) -> None:
    """Overlapping periods merged exclude the same connections, but the stored definition changes, and
    saving it deletes the training history: the confirmation says how many runs, and that the model is
    not the active one."""
    start, _ = history_month(api)
    overlapping = [Period(start=start + timedelta(days=2), end=start + timedelta(days=5)),
                   Period(start=start + timedelta(days=4), end=start + timedelta(days=7))]
    dataset = new_dataset(exclude=overlapping)
    train_and_wait(api, dataset.id)
    train_and_wait(api, dataset.id)
    open_editor(app, dataset.id)
    before = connections_metric(app)
    app.button(key=f"editor.{dataset.id}.merge").click().run()
    assert connections_metric(app) == before, "the same connections"
    save_button(app, dataset.id).click().run()
    message = " ".join(markdown.value for markdown in app.markdown)
    assert ("Saving deletes this dataset's training history: 2 training runs and their model weights. Its "
            "model is not the active one, so inference is not affected.") in message
    assert "Changes: Excluded periods: 2 → 1, not the same periods." in message
    assert app.button(key=f"editor.{dataset.id}.save:confirm").label == "Save and delete 2 runs"
    assert len(api.get_dataset(dataset.id).training_results) == 2, "nothing before the confirmation"


def test_a_dataset_changed_since_it_was_opened_is_said_before_saving(
    app: AppTest, api: UebaClient, new_dataset: Callable[..., Dataset]
) -> None:
    dataset = new_dataset()
    prefix = f"editor.{dataset.id}"
    open_editor(app, dataset.id)
    app.text_area(key=f"{prefix}.comment").input("my name for it").run()
    assert not save_button(app, dataset.id).disabled

    # Someone else saves it meanwhile.
    api.update_dataset(dataset.id, dataset.model_copy(update={"comment": "their name for it"}))
    app.run()
    [conflict] = [warning.value for warning in app.warning if "changed since you opened it" in warning.value]
    assert conflict == ("This dataset was changed since you opened it: Comment changed. Saving now would "
                        "overwrite that change.")
    assert not [button for button in app.button if button.key == f"{prefix}.save"], "no save until decided"
    assert api.get_dataset(dataset.id).comment == "their name for it"

    app.button(key=f"{prefix}.keep").click().run()
    assert not [warning for warning in app.warning if "changed since you opened it" in warning.value]
    assert app.text_area(key=f"{prefix}.comment").value == "my name for it", "the edits are kept"
    save_button(app, dataset.id).click().run()
    assert not app.exception and not app.error
    assert api.get_dataset(dataset.id).comment == "my name for it"


def test_a_change_made_just_before_saving_is_caught_too(
    app: AppTest, api: UebaClient, new_dataset: Callable[..., Dataset]
) -> None:
    """The page reads the dataset again when Save is clicked: a change between the page's last run and
    the click is said, not overwritten."""
    dataset = new_dataset()
    prefix = f"editor.{dataset.id}"
    open_editor(app, dataset.id)
    app.text_area(key=f"{prefix}.comment").input("mine").run()
    api.update_dataset(dataset.id, dataset.model_copy(update={"comment": "theirs"}))
    save_button(app, dataset.id).click().run()
    assert api.get_dataset(dataset.id).comment == "theirs"
    assert any("changed since you opened it" in warning.value for warning in app.warning)


def test_presets_and_new_datasets_take_the_whole_days_before_today(app: AppTest) -> None:
    open_editor(app)
    today = datetime.now(UTC).replace(tzinfo=None, hour=0, minute=0, second=0, microsecond=0)
    assert app.datetime_input(key=f"{NEW}.start").value == today - timedelta(days=90)
    assert app.datetime_input(key=f"{NEW}.end").value == today
    app.button(key=f"{NEW}.preset.30").click().run()
    assert (app.datetime_input(key=f"{NEW}.start").value, app.datetime_input(key=f"{NEW}.end").value) == (
        today - timedelta(days=30), today)
    assert app.button(key=f"{NEW}.preset.30").help == "The 30 whole UTC days before today; today is left out."
    assert app.button(key=f"{NEW}.preset.all").help == (
        "From the midnight before the first connection to the midnight after the latest one (UTC).")
    captions = " ".join(caption.value for caption in app.caption)
    assert '"Last N days" is the N whole days before today' in captions
    # Nothing excluded reads so, not "-0 excluded".
    assert app.metric[0].proto.delta == "none excluded"


def test_after_create_the_page_offers_train_now(app: AppTest, api: UebaClient) -> None:
    open_editor(app)
    start, end = history_month(api)
    app.datetime_input(key=f"{NEW}.start").set_value(naive(start))
    app.datetime_input(key=f"{NEW}.end").set_value(naive(end)).run()
    app.text_area(key=f"{NEW}.comment").input(unique_comment("train now")).run()
    app.button(key=f"{NEW}.save").click().run()
    dataset_id = app.query_params["dataset"]
    try:
        train_now = app.button(key=f"editor.{dataset_id}.train_now")
        assert train_now.label == "Train now"
        train_now.click().run()
        assert not app.exception
        assert app.title[0].value == "Training review"
        assert app.query_params["dataset"] == dataset_id
    finally:
        api.delete_dataset(dataset_id)
