"""`UebaClient`: one typed method per endpoint of the PrivX UEBA API (see the contract).

Every call goes through `_request`, the one loop that holds retries, timeouts and error mapping.

Arguments are checked before anything is sent: a bad one raises pydantic's `ValidationError` (a
`ValueError`) whose `loc` names the field, e.g. `threshold` or `dataset_id`. The settings behind a
client are checked the same way (`ClientSettings`). What the server refuses raises an `ApiStatusError`
subclass (`ueba_api.errors`).
"""

from __future__ import annotations

import email.utils
import logging
import math
import os
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime
from types import TracebackType
from typing import Annotated, Any, Self, TypeVar
from urllib.parse import quote

import httpx
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    FiniteFloat,
    NonNegativeInt,
    PositiveInt,
    SecretStr,
    StrictBool,
    StringConstraints,
    ValidationError,
)

from ueba_api.auth import TOKEN_PATH, BearerTokenAuth, PasswordGrantAuth
from ueba_api.errors import (
    ApiConnectionError,
    ApiResponseValidationError,
    ApiStatusError,
    ApiTimeoutError,
    NotFoundError,
    display_url,
)
from ueba_api.models import (
    AnomalyAction,
    AnomalySettings,
    Dataset,
    DatasetList,
    InternalStatus,
    ServiceStatus,
    TimeRange,
    UebaConfiguration,
)
from ueba_api.settings import DEFAULT_OAUTH_CLIENT_ID, DEFAULT_TIMEOUT, ClientSettings, reveal

logger = logging.getLogger("ueba_api")

API_PREFIX = "/connection-manager/api/v1/ueba"
USER_AGENT = "ueba-notebook/0.1"
RETRY_STATUSES = frozenset({429, 502, 503, 504})
IDEMPOTENT_METHODS = frozenset({"GET", "PUT", "DELETE"})
INITIAL_RETRY_DELAY = 0.5
MAX_RETRY_DELAY = 8.0
# A server asking for a longer pause than this is asking the user, not the client, to wait.
MAX_RETRY_AFTER = 60.0

# Failures that happen before the request left this machine: resending cannot make the server act twice.
NOT_SENT_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# Failures after which the request may or may not have reached the server (a read timeout, a dropped
# connection, a garbled answer): only a request that is safe to repeat is sent again.
MAYBE_SENT_ERRORS = (httpx.NetworkError, httpx.TimeoutException, httpx.RemoteProtocolError)

TIMEOUT_WHEN = {
    httpx.ConnectTimeout: "while connecting",
    httpx.ReadTimeout: "waiting for the answer",
    httpx.WriteTimeout: "while sending",
    httpx.PoolTimeout: "waiting for a free connection",
}

NonEmptyId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
ModelT = TypeVar("ModelT", bound=BaseModel)


class _PathIds(BaseModel):
    """Ids that go into a URL path: an empty one would turn `GET /datasets/{id}` into `GET /datasets/`.

    The fields have no `| None`: an omitted one stays None, but one given as None is refused.
    """

    model_config = ConfigDict(title="UebaClient arguments")

    dataset_id: NonEmptyId = Field(default=None)
    session_id: NonEmptyId = Field(default=None)


class _Query(BaseModel):
    """Query parameters; only those the caller set are sent (newer PrivX versions ignore some)."""

    model_config = ConfigDict(title="UebaClient arguments")

    logs: StrictBool | None = None
    bin_count: PositiveInt | None = None
    set_active_after_training: StrictBool | None = None

    def params(self) -> dict[str, bool | int]:
        # httpx writes booleans as lowercase `true` / `false`, as the contract wants.
        return self.model_dump(exclude_none=True)


class _AnomalySettingsBody(BaseModel):
    model_config = ConfigDict(title="anomaly settings")

    action: AnomalyAction
    threshold: Annotated[FiniteFloat, Field(ge=0.0, le=1.0)]


class _ConfigurationBody(BaseModel):
    model_config = ConfigDict(title="UEBA configuration")

    address: str
    trust_anchors: str


class _NewId(BaseModel):
    id: NonEmptyId


class _Count(BaseModel):
    count: NonNegativeInt


def _retry_after_seconds(value: str | None) -> float | None:
    """`Retry-After` as seconds to wait: it holds either seconds or an HTTP date (RFC 9110)."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    return max(0.0, seconds) if math.isfinite(seconds) else None


def _body(schema: type[BaseModel], given: BaseModel | None, **keywords: object) -> dict[str, Any]:
    """A request body from a model and/or keywords (keywords win), checked by `schema`."""
    values = given.model_dump(exclude_none=True) if given is not None else {}
    values.update({name: value for name, value in keywords.items() if value is not None})
    return schema.model_validate(values).model_dump(mode="json")


class UebaClient:
    """A synchronous client for the PrivX UEBA API; use it as a context manager, or call `close()`.

    Authenticates with a static `token`, or with the API client's `client_id`/`client_secret` through
    PrivX's OAuth2 password grant (Basic auth of `oauth_client_id`/`oauth_client_secret`). `ca_cert`
    is a CA bundle path or PEM text. `transport` takes any httpx transport (tests use MockTransport).

    `timeout` is seconds for each phase of a request (or an `httpx.Timeout` per phase); connecting has
    its own `connect_timeout`, by default the smaller of `timeout` and 10 s, so the defaults amount to
    `httpx.Timeout(30.0, connect=10.0)`. A connect that times out is retried `max_retries` times: with
    the defaults an unreachable address fails after at most 3 × 10 s plus 1.5 s of pauses.
    """

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        oauth_client_id: str = DEFAULT_OAUTH_CLIENT_ID,
        oauth_client_secret: str | None = None,
        ca_cert: str | os.PathLike[str] | None = None,
        verify: bool = True,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        connect_timeout: float | None = None,
        max_retries: int = 2,
        transport: httpx.BaseTransport | None = None,
        _sleep: Callable[[float], None] = time.sleep,
        _clock: Callable[[], float] = time.monotonic,
    ) -> None:
        settings = ClientSettings(
            base_url=base_url,
            token=token,
            client_id=client_id,
            client_secret=client_secret,
            oauth_client_id=oauth_client_id,
            oauth_client_secret=oauth_client_secret,
            ca_cert=ca_cert,
            verify=verify,
            timeout=timeout,
            connect_timeout=connect_timeout,
            max_retries=max_retries,
        )
        self._base_url = settings.base_url
        self._max_retries = settings.max_retries
        self._sleep = _sleep
        auth: httpx.Auth
        if settings.token is not None:
            auth = BearerTokenAuth(settings.token.get_secret_value())
            self._auth_kind = "bearer token"
        else:
            auth = PasswordGrantAuth(
                settings.base_url + TOKEN_PATH,
                client_id=settings.client_id or "",
                client_secret=reveal(settings.client_secret) or "",
                oauth_client_id=settings.oauth_client_id,
                oauth_client_secret=reveal(settings.oauth_client_secret),
                clock=_clock,
            )
            self._auth_kind = "OAuth2 password grant"
        self._http = httpx.Client(
            base_url=settings.base_url,
            auth=auth,
            headers={"Accept": "application/json", "User-Agent": USER_AGENT},
            timeout=settings.http_timeout(),
            verify=settings.tls_verify(),
            transport=transport,
        )

    @classmethod
    def from_settings(cls, settings: ClientSettings, **overrides: Any) -> Self:
        """A client from a `ClientSettings`; keywords (also `transport`) override or add to it."""
        fields = {name: reveal(value) if isinstance(value, SecretStr) else value for name, value in settings}
        return cls(**{**fields, **overrides})

    @classmethod
    def from_env(cls, **overrides: Any) -> Self:
        """A client from the `PRIVX_API_*` environment variables (see `ClientSettings.from_env`)."""
        return cls.from_settings(ClientSettings.from_env(), **overrides)

    @property
    def base_url(self) -> str:
        return self._base_url

    def __repr__(self) -> str:
        return f"UebaClient(base_url={self._base_url!r}, auth={self._auth_kind!r})"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # Datasets

    def list_datasets(self, logs: bool | None = None, bin_count: int | None = None) -> DatasetList:
        params = _Query(logs=logs, bin_count=bin_count).params()
        return self._parse(self._request("GET", "/datasets", params=params), DatasetList)

    def get_dataset(self, dataset_id: str, logs: bool | None = None, bin_count: int | None = None) -> Dataset:
        params = _Query(logs=logs, bin_count=bin_count).params()
        return self._parse(self._request("GET", _dataset_path(dataset_id), params=params), Dataset)

    def create_dataset(self, dataset: Dataset) -> str:
        """Saves a new dataset (it is not trained) and returns its id."""
        body = Dataset.model_validate(dataset).to_request()
        return self._parse(self._request("POST", "/datasets", json=body), _NewId).id

    def update_dataset(self, dataset_id: str, dataset: Dataset) -> None:
        """Replaces the dataset's definition; the server empties its training history."""
        body = Dataset.model_validate(dataset).to_request()
        self._request("PUT", _dataset_path(dataset_id), json=body)

    def delete_dataset(self, dataset_id: str) -> None:
        self._request("DELETE", _dataset_path(dataset_id))

    def train_dataset(self, dataset_id: str, set_active_after_training: bool = False) -> int:
        """Starts a training and returns how many connections it uses."""
        path = "/train/" + _dataset_id_segment(dataset_id)
        params = _Query(set_active_after_training=set_active_after_training).params()
        return self._parse(self._request("POST", path, params=params), _Count).count

    def count_connections(self, time_range: TimeRange | None = None) -> int:
        """Connections a dataset over `time_range` would train on; all connections when None."""
        body = TimeRange.model_validate(time_range).to_request() if time_range is not None else {}
        # A count changes nothing on the server, so it is as safe to repeat as a GET.
        response = self._request("POST", "/query-connection-count", json=body, retry_safe=True)
        return self._parse(response, _Count).count

    # Inference

    def get_anomaly_settings(self) -> AnomalySettings:
        return self._parse(self._request("GET", "/anomaly-settings"), AnomalySettings)

    def set_anomaly_settings(
        self,
        settings: AnomalySettings | None = None,
        *,
        action: AnomalyAction | str | None = None,
        threshold: float | None = None,
    ) -> None:
        """Sets `action` (BLOCK or AUDIT) and `threshold` (0.0 loose .. 1.0 strict); keywords override
        `settings`. Both are checked before sending."""
        body = _body(_AnomalySettingsBody, settings, action=action, threshold=threshold)
        self._request("POST", "/anomaly-settings", json=body)

    def start_analyzing(self, dataset_id: str) -> None:
        """Makes the dataset (it needs a successful training) the one that inference uses."""
        self._request("POST", "/start-analyzing/" + _dataset_id_segment(dataset_id))

    def stop_analyzing(self) -> None:
        self._request("POST", "/stop-analyzing")

    # The UEBA engine

    def get_configuration(self) -> UebaConfiguration:
        return self._parse(self._request("GET", "/configure"), UebaConfiguration)

    def set_configuration(
        self,
        config: UebaConfiguration | None = None,
        *,
        address: str | None = None,
        trust_anchors: str | None = None,
    ) -> None:
        """Sets where the UEBA engine runs; keywords override `config`, and both fields are needed."""
        body = _body(_ConfigurationBody, config, address=address, trust_anchors=trust_anchors)
        self._request("POST", "/configure", json=body)

    def create_setup_script_session(self) -> str:
        """A session id that `download_setup_script` takes, good for one download."""
        return self._parse(self._request("POST", "/setup-script"), _NewId).id

    def download_setup_script(self, session_id: str) -> bytes:
        path = "/setup-script/" + quote(_PathIds(session_id=session_id).session_id, safe="")
        return self._request("GET", path, headers={"Accept": "*/*"}).content

    def get_status(self) -> ServiceStatus:
        return self._parse(self._request("GET", "/status"), ServiceStatus)

    def get_internal_status(self) -> InternalStatus | None:
        """The engine's internal status, or None where the server has no such endpoint (newer PrivX)."""
        try:
            return self._parse(self._request("GET", "/status/internal"), InternalStatus)
        except NotFoundError:
            return None

    # The request loop

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, bool | int] | None = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
        retry_safe: bool | None = None,
    ) -> httpx.Response:
        """Sends one API request, retrying what is safe to retry; returns a 2xx response or raises."""
        if retry_safe is None:
            retry_safe = method in IDEMPOTENT_METHODS
        request = self._http.build_request(
            method, API_PREFIX + path, params=params, json=json, headers=headers
        )
        url = display_url(request.url)
        attempt = 0
        while True:
            retries_left = attempt < self._max_retries
            started = time.perf_counter()
            try:
                response = self._http.send(request)
            except httpx.TransportError as error:
                # A request that never left (connect error) is safe to resend even when it is a create or
                # a train; one that may have reached the server is resent only when repeating it is harmless.
                never_left = isinstance(error, NOT_SENT_ERRORS)
                resendable = never_left or (retry_safe and isinstance(error, MAYBE_SENT_ERRORS))
                if not (retries_left and resendable):
                    maybe_acted_on = not retry_safe and not never_left
                    raise _connection_error(error, method, url, maybe_acted_on=maybe_acted_on) from error
                reason, retry_after = type(error).__name__, None
            except ApiStatusError as error:
                # Raised by the login inside the auth flow, before the API request itself was answered,
                # so retrying cannot repeat the call's effect.
                if not (retries_left and error.status_code in RETRY_STATUSES):
                    raise
                reason, retry_after = f"login answered {error.status_code}", None
            else:
                elapsed_ms = (time.perf_counter() - started) * 1000
                logger.debug("%s %s -> %s in %.0f ms", method, url, response.status_code, elapsed_ms)
                if response.is_success:
                    return response
                if not (retries_left and retry_safe and response.status_code in RETRY_STATUSES):
                    raise ApiStatusError.from_response(response)
                reason = f"answer {response.status_code}"
                retry_after = _retry_after_seconds(response.headers.get("Retry-After"))
            self._pause(method, url, attempt, reason, retry_after)
            attempt += 1

    def _pause(self, method: str, url: str, attempt: int, reason: str, retry_after: float | None) -> None:
        if retry_after is not None:
            delay = min(retry_after, MAX_RETRY_AFTER)
        else:
            # Exponential backoff with "equal jitter": spreads clients apart, yet never waits near zero.
            backoff = min(INITIAL_RETRY_DELAY * 2**attempt, MAX_RETRY_DELAY)
            delay = backoff / 2 + random.uniform(0, backoff / 2)
        logger.info(
            "Retrying %s %s in %.2f s after %s (retry %d of %d)",
            method, url, delay, reason, attempt + 1, self._max_retries,
        )
        self._sleep(delay)

    @staticmethod
    def _parse(response: httpx.Response, model: type[ModelT]) -> ModelT:
        try:
            return model.model_validate_json(response.content)
        except ValidationError as error:
            raise ApiResponseValidationError.from_response(response, error) from error


def _dataset_id_segment(dataset_id: str) -> str:
    return quote(_PathIds(dataset_id=dataset_id).dataset_id, safe="")


def _dataset_path(dataset_id: str) -> str:
    return "/datasets/" + _dataset_id_segment(dataset_id)


def _connection_error(
    error: httpx.TransportError, method: str, url: str, *, maybe_acted_on: bool
) -> ApiConnectionError:
    detail = str(error) or type(error).__name__
    if isinstance(error, httpx.TimeoutException):
        phase = TIMEOUT_WHEN.get(type(error), "")
        message = f"{method} {url} timed out {phase}".rstrip()
        error_class: type[ApiConnectionError] = ApiTimeoutError
    elif isinstance(error, httpx.ConnectError):
        message = f"Could not connect for {method} {url}: {detail}"
        error_class = ApiConnectionError
    else:
        message = f"{method} {url} failed: {detail}"
        error_class = ApiConnectionError
    if maybe_acted_on:
        message += "; the server may have received it, so check before trying again"
    return error_class(message, method=method, url=url)
