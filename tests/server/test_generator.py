"""The connection generator: deterministic, the asked size, and realistic in the ways the model relies on."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from ueba_server.connections import CONNECTION_COLUMNS, DAY_US, HOUR_US, to_microseconds
from ueba_server.features import source_network
from ueba_server.generator import HOLIDAYS, PROTOCOLS, GeneratorSettings, generate_connections

END = datetime(2025, 1, 1, tzinfo=UTC)
SETTINGS = GeneratorSettings(connections=40_000, days=182, end=END, seed=21)


def generate(settings: GeneratorSettings) -> pd.DataFrame:
    return pd.concat(list(generate_connections(settings)), ignore_index=True)


@pytest.fixture(scope="module")
def connections() -> pd.DataFrame:
    return generate(SETTINGS)


def test_same_seed_same_history_other_seed_other_history(connections: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(generate(SETTINGS), connections)
    other = generate(GeneratorSettings(connections=40_000, days=182, end=END, seed=22))
    assert not other["start_us"].equals(connections["start_us"])


def test_size_columns_and_span(connections: pd.DataFrame) -> None:
    assert len(connections) == SETTINGS.connections
    assert list(connections.columns) == list(CONNECTION_COLUMNS)
    start = to_microseconds(END) - SETTINGS.days * DAY_US
    assert connections["start_us"].between(start, to_microseconds(END) - 1).all()
    assert set(connections["protocol"]) == set(PROTOCOLS)
    assert (connections["duration_seconds"] > 0).all()


def test_a_few_labelled_anomalies_of_every_kind(connections: pd.DataFrame) -> None:
    anomalies = connections[connections["is_anomaly"]]
    assert len(anomalies) == SETTINGS.anomaly_count == 40
    normal = connections[~connections["is_anomaly"]]
    normal_networks = set(normal["source_address"].map(source_network))
    new_networks = anomalies["source_address"].map(source_network).map(lambda net: net not in normal_networks)
    assert new_networks.sum() >= len(anomalies) // 3  # the night logins from a new address
    user_hosts = set(zip(normal["user"], normal["target_host"], strict=True))
    unseen = [
        pair not in user_hosts for pair in zip(anomalies["user"], anomalies["target_host"], strict=True)
    ]
    assert sum(unseen) >= len(anomalies) // 4  # hosts of another team


def test_working_hours_weekends_and_holidays(connections: pd.DataFrame) -> None:
    normal = connections[~connections["is_anomaly"]]
    moments = pd.to_datetime(normal["start_us"], unit="us", utc=True)
    weekdays = moments.dt.day_of_week
    per_day = normal.groupby(moments.dt.date).size()
    workdays = [day for day in per_day.index if day.weekday() < 5 and (day.month, day.day) not in HOLIDAYS]
    weekends = [day for day in per_day.index if day.weekday() >= 5]
    assert per_day[weekends].mean() < 0.25 * per_day[workdays].mean()
    holidays = [day for day in per_day.index if (day.month, day.day) in HOLIDAYS and day.weekday() < 5]
    assert holidays and per_day[holidays].mean() < 0.25 * per_day[workdays].mean()
    hours = (normal["start_us"] % DAY_US) // HOUR_US
    assert hours.between(5, 20).mean() > 0.9  # working hours (UTC) dominate
    assert (weekdays < 5).mean() > 0.9


def test_users_have_habits(connections: pd.DataFrame) -> None:
    normal = connections[~connections["is_anomaly"]]
    networks = normal["source_address"].map(source_network)
    per_user_networks = networks.groupby(normal["user"]).nunique()
    assert per_user_networks.median() <= 5  # a desk network and a VPN pool or two
    top_host_share = normal.groupby("user")["target_host"].agg(
        lambda hosts: hosts.value_counts(normalize=True).iloc[0]
    )
    assert top_host_share.median() > 0.25


def test_ten_million_rows_come_in_bounded_chunks() -> None:
    settings = GeneratorSettings(connections=10_000_000, days=182, end=END, seed=1)
    first_chunk = next(generate_connections(settings))
    assert 100_000 < len(first_chunk) <= 500_000
    assert np.all(np.diff(first_chunk["start_us"].to_numpy()) >= 0)
