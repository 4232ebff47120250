"""A seeded, deterministic generator of PrivX-like connection history.

The organisation: teams (Linux and Windows operations, DBAs, web developers, network, contractors), each
with its own target hosts (one main protocol per host), target accounts, and users. A user has working
hours (UTC), a desk address in the team's office network and sometimes a VPN address, a handful of
favourite hosts and a usual account. Weekends and public holidays are quiet. Session durations follow a
log-normal law per protocol.

A few true anomalies are mixed in and labelled (`is_anomaly`, for evaluation only, never a feature):
  * a night login from an address no user ever had;
  * a user on a host of another team, with that host's protocol and that team's account;
  * a user's own host with another team's account, late in the evening, over VPN.

Everything is vectorised numpy; rows come in chunks of days so that 10M rows fit in memory. The output
depends only on the settings (seed, size, span, end), never on how it is consumed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from ueba_server.config import DEFAULT_CONNECTIONS, DEFAULT_SEED
from ueba_server.connections import DAY_US, HOUR_US, to_microseconds

PROTOCOLS = ("SSH", "RDP", "VNC", "WEB", "DB")
MEDIAN_SESSION_MINUTES = np.array([12.0, 45.0, 20.0, 6.0, 15.0])  # by PROTOCOLS index
HOLIDAYS = frozenset({(1, 1), (1, 6), (5, 1), (6, 24), (12, 6), (12, 24), (12, 25), (12, 26), (12, 31)})
# Documentation address blocks (RFC 5737): no user is ever at home there.
EXTERNAL_NETWORKS = np.array(["203.0.113", "198.51.100", "192.0.2"], dtype=object)
VPN_NETWORKS = np.array([f"10.99.{pool}" for pool in range(4)], dtype=object)
SITES = 3
FAVOURITE_HOSTS = 6
ROWS_PER_CHUNK = 400_000


@dataclass(frozen=True)
class Team:
    name: str
    host_prefix: str
    protocol_weights: tuple[float, ...]  # by PROTOCOLS index
    accounts: tuple[str, ...]
    user_share: float


TEAMS = (
    Team("linux-ops", "lnx", (0.85, 0.0, 0.15, 0.0, 0.0), ("root", "deploy", "ops"), 0.25),
    Team("windows-ops", "win", (0.0, 0.8, 0.05, 0.15, 0.0), ("Administrator", "svc-backup"), 0.2),
    Team("dba", "db", (0.25, 0.0, 0.0, 0.0, 0.75), ("postgres", "oracle", "dba"), 0.12),
    Team("web-dev", "web", (0.4, 0.0, 0.0, 0.6, 0.0), ("www-data", "deploy-web"), 0.23),
    Team("network", "net", (0.7, 0.0, 0.0, 0.3, 0.0), ("netadmin",), 0.1),
    Team("contractors", "jump", (0.0, 0.5, 0.5, 0.0, 0.0), ("contractor",), 0.1),
)


@dataclass(frozen=True)
class GeneratorSettings:
    connections: int = DEFAULT_CONNECTIONS
    days: int = 182
    end: datetime | None = None  # None: the start of the current UTC day
    seed: int = DEFAULT_SEED
    anomaly_share: float = 0.001

    def end_time(self) -> datetime:
        if self.end is not None:
            return self.end.astimezone(UTC)
        return datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)

    @property
    def anomaly_count(self) -> int:
        return max(len(ANOMALY_KINDS), round(self.connections * self.anomaly_share))


ANOMALY_KINDS = ("night login from a new address", "another team's host", "another team's account")


class Organisation:
    """Teams, hosts and users with their habits, drawn once from the seed."""

    def __init__(self, settings: GeneratorSettings) -> None:
        rng = np.random.default_rng([settings.seed, 0])
        self.user_count = int(np.clip(settings.connections // 1000, 24, 3000))
        shares = np.array([team.user_share for team in TEAMS])
        teams = np.r_[np.arange(len(TEAMS)), rng.choice(len(TEAMS), self.user_count - len(TEAMS), p=shares)]
        self.user_team = np.sort(teams)
        self.user_names = np.array([f"user{index:04d}" for index in range(self.user_count)], dtype=object)

        host_names, host_team, host_protocol = [], [], []
        for team_index, team in enumerate(TEAMS):
            hosts = max(3, int((self.user_team == team_index).sum()))
            weights = np.array(team.protocol_weights)
            host_names += [f"{team.host_prefix}-{index:03d}.example.com" for index in range(hosts)]
            host_team += [team_index] * hosts
            host_protocol += list(rng.choice(len(PROTOCOLS), hosts, p=weights / weights.sum()))
        self.host_names = np.array(host_names, dtype=object)
        self.host_team = np.array(host_team)
        self.host_protocol = np.array(host_protocol)

        self.account_names = np.array([account for team in TEAMS for account in team.accounts], dtype=object)
        self.team_first_account = np.cumsum([0] + [len(team.accounts) for team in TEAMS])[:-1]
        self.team_account_count = np.array([len(team.accounts) for team in TEAMS])

        users = self.user_count
        self.work_start = rng.uniform(5.5, 10.0, users)
        self.work_hours = rng.uniform(7.0, 9.5, users)
        self.activity = rng.lognormal(0.0, 0.5, users)
        site = rng.integers(0, SITES, users)
        self.home_network = np.array(
            [f"10.{s + 1}.{t + 1}" for s, t in zip(site, self.user_team, strict=False)], dtype=object
        )
        self.desk_octet = rng.integers(10, 250, users)
        self.vpn_pool = rng.integers(0, len(VPN_NETWORKS), users)
        self.vpn_share = rng.uniform(0.0, 0.3, users)
        self.usual_account = self.team_first_account[self.user_team] + rng.integers(
            0, self.team_account_count[self.user_team]
        )
        self.favourite_hosts = np.empty((users, FAVOURITE_HOSTS), dtype=np.int64)
        for user in range(users):
            team_hosts = np.flatnonzero(self.host_team == self.user_team[user])
            self.favourite_hosts[user] = rng.choice(team_hosts, FAVOURITE_HOSTS)
        self.favourite_cumulative = np.cumsum(rng.dirichlet(np.full(FAVOURITE_HOSTS, 0.7), users), axis=1)

    def pick_favourite_hosts(self, rng: np.random.Generator, users: np.ndarray) -> np.ndarray:
        slot = (rng.random(len(users))[:, None] > self.favourite_cumulative[users]).sum(axis=1)
        return self.favourite_hosts[users, np.minimum(slot, FAVOURITE_HOSTS - 1)]

    def team_account(self, rng: np.random.Generator, teams: np.ndarray) -> np.ndarray:
        return self.team_first_account[teams] + (
            rng.random(len(teams)) * self.team_account_count[teams]
        ).astype(np.int64)


def day_weights(first_day: datetime, days: int) -> np.ndarray:
    """Relative activity per day: weekdays 1, Saturdays and Sundays little, public holidays little."""
    dates = [first_day + timedelta(days=offset) for offset in range(days)]
    weekday_weight = np.array([1.0, 1.0, 1.0, 1.0, 1.0, 0.12, 0.08])
    weights = np.array([weekday_weight[date.weekday()] for date in dates])
    holidays = np.array([(date.month, date.day) in HOLIDAYS for date in dates])
    return np.where(holidays, 0.1, weights)


def _durations(rng: np.random.Generator, protocols: np.ndarray) -> np.ndarray:
    seconds = rng.lognormal(np.log(MEDIAN_SESSION_MINUTES[protocols] * 60.0), 0.9)
    return np.round(np.clip(seconds, 2.0, 12 * 3600.0), 1)


def _frame(
    organisation: Organisation,
    start_us: np.ndarray,
    durations: np.ndarray,
    users: np.ndarray,
    networks: np.ndarray,
    octets: np.ndarray,
    hosts: np.ndarray,
    accounts: np.ndarray,
    protocols: np.ndarray,
    is_anomaly: bool,
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "start_us": start_us,
            "duration_seconds": durations,
            "user": organisation.user_names[users],
            "source_address": networks + "." + octets.astype(str).astype(object),
            "target_host": organisation.host_names[hosts],
            "target_account": organisation.account_names[accounts],
            "protocol": np.array(PROTOCOLS, dtype=object)[protocols],
            "is_anomaly": np.full(len(start_us), is_anomaly),
        }
    )


def _normal_chunk(
    organisation: Organisation, rng: np.random.Generator, day_start_us: np.ndarray, off_day: np.ndarray
) -> pd.DataFrame:
    rows = len(day_start_us)
    org = organisation
    activity = org.activity / org.activity.sum()
    users = rng.choice(org.user_count, rows, p=activity)
    # Mostly inside working hours; sometimes a little early or late. Days off are shorter still.
    within = rng.beta(2.0, 2.0, rows) * org.work_hours[users] * np.where(off_day, 0.5, 1.0)
    overtime = np.where(
        rng.random(rows) < 0.5, -rng.uniform(0, 1.5, rows), org.work_hours[users] + rng.uniform(0, 3, rows)
    )
    hours = org.work_start[users] + np.where(rng.random(rows) < 0.93, within, overtime)
    start_us = day_start_us + (np.mod(hours, 24.0) * HOUR_US).astype(np.int64)

    hosts = org.pick_favourite_hosts(rng, users)
    teams = org.user_team[users]
    team_weights = np.array([team.protocol_weights for team in TEAMS])
    team_cumulative = np.cumsum(team_weights / team_weights.sum(axis=1, keepdims=True), axis=1)
    other_protocol = (rng.random(rows)[:, None] > team_cumulative[teams]).sum(axis=1)
    protocols = np.where(rng.random(rows) < 0.92, org.host_protocol[hosts], np.minimum(other_protocol, 4))
    accounts = np.where(rng.random(rows) < 0.85, org.usual_account[users], org.team_account(rng, teams))

    on_vpn = rng.random(rows) < org.vpn_share[users]
    networks = np.where(on_vpn, VPN_NETWORKS[org.vpn_pool[users]], org.home_network[users])
    octets = np.where(on_vpn, rng.integers(2, 255, rows), org.desk_octet[users])
    return _frame(
        org, start_us, _durations(rng, protocols), users, networks, octets, hosts, accounts, protocols, False
    )


def _anomalies(organisation: Organisation, settings: GeneratorSettings, first_day_us: int) -> pd.DataFrame:
    org = organisation
    rng = np.random.default_rng([settings.seed, 2])
    count = settings.anomaly_count
    kind = np.arange(count) % len(ANOMALY_KINDS)
    users = rng.integers(0, org.user_count, count)
    teams = org.user_team[users]
    day_us = first_day_us + rng.integers(0, settings.days, count) * DAY_US
    hosts = org.pick_favourite_hosts(rng, users)
    accounts = org.usual_account[users].copy()
    networks = org.home_network[users].copy()
    octets = org.desk_octet[users].copy()
    work_end = org.work_start[users] + org.work_hours[users]
    hours = org.work_start[users] + rng.uniform(1.0, 6.0, count)

    night = kind == 0
    hours[night] = (
        org.work_start[users] + 0.5 * org.work_hours[users] + 12.0 + rng.uniform(-1.5, 1.5, count)
    )[night]
    networks[night] = EXTERNAL_NETWORKS[rng.integers(0, len(EXTERNAL_NETWORKS), count)][night]
    octets[night] = rng.integers(2, 255, count)[night]

    foreign = kind == 1
    other_team = (teams + rng.integers(1, len(TEAMS), count)) % len(TEAMS)
    foreign_hosts = np.array([rng.choice(np.flatnonzero(org.host_team == team)) for team in other_team])
    hosts[foreign] = foreign_hosts[foreign]
    accounts[foreign] = org.team_account(rng, other_team)[foreign]

    odd_account = kind == 2
    accounts[odd_account] = org.team_account(rng, other_team)[odd_account]
    hours[odd_account] = (work_end + rng.uniform(3.0, 5.0, count))[odd_account]
    networks[odd_account] = VPN_NETWORKS[org.vpn_pool[users]][odd_account]
    octets[odd_account] = rng.integers(2, 255, count)[odd_account]

    protocols = org.host_protocol[hosts]
    start_us = day_us + (np.mod(hours, 24.0) * HOUR_US).astype(np.int64)
    return _frame(
        org, start_us, _durations(rng, protocols), users, networks, octets, hosts, accounts, protocols, True
    )


def generate_connections(settings: GeneratorSettings) -> Iterator[pd.DataFrame]:
    """Frames of connections (`connections.CONNECTION_COLUMNS`), chunked by days, anomalies last."""
    organisation = Organisation(settings)
    first_day = settings.end_time() - timedelta(days=settings.days)
    first_day_us = to_microseconds(first_day)
    weights = day_weights(first_day, settings.days)
    normal_count = settings.connections - settings.anomaly_count
    per_day = np.random.default_rng([settings.seed, 1]).multinomial(normal_count, weights / weights.sum())
    off_day = weights < 1.0

    days_per_chunk = max(1, int(ROWS_PER_CHUNK // max(1, normal_count / settings.days)))
    for chunk, first in enumerate(range(0, settings.days, days_per_chunk)):
        days = np.arange(first, min(first + days_per_chunk, settings.days))
        rng = np.random.default_rng([settings.seed, 1, chunk])
        day_of_row = np.repeat(days, per_day[days])
        frame = _normal_chunk(organisation, rng, first_day_us + day_of_row * DAY_US, off_day[day_of_row])
        yield frame.sort_values("start_us", kind="stable").reset_index(drop=True)
    yield _anomalies(organisation, settings, first_day_us)
