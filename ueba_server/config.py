"""Settings of one reference server process: where its data lives and which API clients it knows."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ueba_api.limits import MAX_BODY_BYTES

MANAGE_PERMISSIONS = frozenset({"ueba-view", "ueba-manage"})
VIEW_PERMISSIONS = frozenset({"ueba-view"})

# Well-known demo credentials: printed at start when (and only when) they are the ones in use.
DEMO_CLIENT_ID = "ueba-demo"
DEMO_CLIENT_SECRET = "ueba-demo-secret"
DEMO_OAUTH_CLIENT_ID = "privx-external"
DEMO_OAUTH_CLIENT_SECRET = "privx-external-demo-secret"

# Credential options and the PRIVX_API_* variables that set them; `start_server` passes its credentials
# this way, never on the command line.
ENVIRONMENT = {
    "client_id": "PRIVX_API_CLIENT_ID",
    "client_secret": "PRIVX_API_CLIENT_SECRET",
    "oauth_client_id": "PRIVX_API_OAUTH_CLIENT_ID",
    "oauth_client_secret": "PRIVX_API_OAUTH_CLIENT_SECRET",
    "view_client_id": "PRIVX_API_VIEW_CLIENT_ID",
    "view_client_secret": "PRIVX_API_VIEW_CLIENT_SECRET",
}

# The feature set the trainings use (see features.py); results report it as feature_config_name.
FEATURE_CONFIG_NAME = "ueba-default-v1"

# A training uses at most this many connections (a seeded uniform sample of a bigger dataset): the
# encoded features of 300k connections take about half a gigabyte.
MAX_TRAINING_CONNECTIONS = 300_000

DEFAULT_CONNECTIONS = 150_000
DEFAULT_SEED = 7
DEFAULT_EPOCHS = 15
DEFAULT_TOKEN_LIFETIME_SECONDS = 300
# Re-binned validation-loss histograms the API keeps (see dataset_store.HistogramCache): the runs a
# listing shows, at a few bin counts. One of 50 bins takes about 4 kB, of 1,000 bins about 70 kB.
HISTOGRAM_CACHE_SIZE = 256
# Concurrent trainings (worker processes) by default; each holds up to ~0.5 GB (MAX_TRAINING_CONNECTIONS).
DEFAULT_MAX_TRAININGS = 2
# Failed logins of one caller (address and client id) within the window before the token endpoint
# answers 429 until the oldest failure leaves the window.
LOGIN_FAILURE_LIMIT = 5
LOGIN_FAILURE_WINDOW_SECONDS = 60.0
# Set by launch.start_server: the server ends when the process of that pid does.
PARENT_PID_VARIABLE = "UEBA_SERVER_PARENT_PID"


@dataclass(frozen=True)
class ApiClient:
    """An API client the server accepts in the password grant."""

    client_id: str
    secret: str = field(repr=False)
    permissions: frozenset[str] = MANAGE_PERMISSIONS

    @property
    def is_demo(self) -> bool:
        return self.client_id == DEMO_CLIENT_ID and self.secret == DEMO_CLIENT_SECRET


@dataclass(frozen=True)
class OAuthClient:
    """The OAuth client (usually `privx-external`) whose Basic auth the token endpoint requires."""

    client_id: str = DEMO_OAUTH_CLIENT_ID
    secret: str = field(default=DEMO_OAUTH_CLIENT_SECRET, repr=False)

    @property
    def is_demo(self) -> bool:
        return self.client_id == DEMO_OAUTH_CLIENT_ID and self.secret == DEMO_OAUTH_CLIENT_SECRET


@dataclass(frozen=True)
class ServerConfig:
    data_dir: Path
    api_clients: tuple[ApiClient, ...] = (ApiClient(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET),)
    oauth_client: OAuthClient = OAuthClient()
    token_lifetime_seconds: int = DEFAULT_TOKEN_LIFETIME_SECONDS
    connections: int = DEFAULT_CONNECTIONS
    seed: int = DEFAULT_SEED
    epochs: int = DEFAULT_EPOCHS
    demo: bool = False
    histogram_cache_size: int = HISTOGRAM_CACHE_SIZE
    max_body_bytes: int = MAX_BODY_BYTES
    max_trainings: int = DEFAULT_MAX_TRAININGS
    login_failure_limit: int = LOGIN_FAILURE_LIMIT

    @property
    def database_path(self) -> Path:
        return self.data_dir / "ueba.sqlite3"

    @property
    def models_dir(self) -> Path:
        return self.data_dir / "models"
