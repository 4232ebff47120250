"""`UebaClient`: one typed method per endpoint of the PrivX UEBA API (see the contract).

Every call goes through `_request`, the one loop that holds retries, timeouts and error mapping.

Arguments are checked before anything is sent: a bad one raises pydantic's `ValidationError` (a
`ValueError`) whose `loc` names the field, e.g. `threshold` or `dataset_id`. The settings behind a
client are checked the same way (`ClientSettings`). What the server refuses raises an `ApiStatusError`
subclass (`ueba_api.errors`).
"""

from __future__ import annotations

import copy
import email.utils
import logging
import os
import random
import time
from collections.abc import Callable
from datetime import datetime
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
from ueba_api.deadline import Deadline, DeadlineTransport
from ueba_api.errors import (
    ApiConnectionError,
    ApiResponseValidationError,
    ApiStatusError,
    ApiTimeoutError,
    NotFoundError,
    UebaError,
    display_url,
    readable_seconds,
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
    as_utc,
)
from ueba_api.settings import (
    DEFAULT_OAUTH_CLIENT_ID,
    DEFAULT_TIMEOUT,
    CallOptions,
    ClientSettings,
    reveal,
)

logger = logging.getLogger("ueba_api")

API_PREFIX = "/connection-manager/api/v1/ueba"
USER_AGENT = "ueba-notebook/0.1"
# Parsed request URLs kept (paths hold dataset ids): those of a thousand datasets fit, in little memory.
URL_CACHE_SIZE = 2048
RETRY_STATUSES = frozenset({429, 502, 503, 504})
IDEMPOTENT_METHODS = frozenset({"GET", "PUT", "DELETE"})
INITIAL_RETRY_DELAY = 0.5
MAX_RETRY_DELAY = 8.0
# A server asking for a longer pause than this is asking the user, not the client, to wait.
MAX_RETRY_AFTER = 60.0

# Failures that happen before the request left this machine: resending cannot make the server act twice.
NOT_SENT_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# Failures worth another attempt: connecting failed, or the request may or may not have reached the server
# (a read timeout, a dropped connection, a garbled answer), in which case only a request that is safe to
# repeat is sent again. An invalid request (httpx.LocalProtocolError, a bad URL) would fail the same way.
RETRYABLE_TRANSPORT_ERRORS = (httpx.NetworkError, httpx.TimeoutException, httpx.RemoteProtocolError)
# Gateway answers that may come after the request reached the server behind it: a create or train that
# got one may have acted, and a DELETE retried after one may find its dataset already gone.
MAYBE_FORWARDED_STATUSES = frozenset({502, 504})
# Ends the sentence of a failed call that may have acted although it failed (a create, a train).
MAYBE_ACTED = "the server may have received it, so check before trying again"
EARLIER_ATTEMPT_MAY_HAVE_APPLIED = (
    "an earlier attempt of this call, whose answer was lost, may have been applied: read the dataset again"
)
TRAINING_MAY_HAVE_STARTED = (
    "the server may have received it, so the training may have started: check the dataset's training "
    "status before trying again"
)

TIMEOUT_WHEN = {
    httpx.ConnectTimeout: "while connecting",
    httpx.ReadTimeout: "waiting for the answer",
    httpx.WriteTimeout: "while sending",
    httpx.PoolTimeout: "waiting for a free connection",
}

NonEmptyId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
# An `If-Match` value, one entity tag or a list (RFC 9110 8.8.3): visible ASCII and spaces, as any header.
EntityTags = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, pattern=r"^[\x20-\x7e]+$")]
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
    the defaults an unreachable address fails after at most 3 × 10 s plus 1.5 s of pauses. A whole call,
    retries included, ends after `deadline` seconds (default twice the longest phase timeout, 60 s).
    `with_options` gives a copy with other timeouts or retries that shares the connection pool and login.
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
        deadline: float | None = None,
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
            deadline=deadline,
        )
        self._base_url = settings.base_url
        self._options = settings.call_options()
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
            # Without one given (tests give MockTransport), httpx's own, held to each call's deadline.
            transport=transport or DeadlineTransport(verify=settings.tls_verify()),
        )
        self._urls: dict[str, httpx.URL] = {}

    def with_options(self, **options: Any) -> Self:
        """A copy of this client that calls with other `timeout`, `connect_timeout`, `max_retries` or
        `deadline` (as `ClientSettings` takes them), sharing this client's connection pool, login and
        token; the app gives each page call shorter limits this way. A bad or unknown option raises
        pydantic's `ValidationError` naming it. Closing either closes the shared pool: close the original.
        """
        changed = copy.copy(self)
        changed._options = self._options.with_changes(options)
        return changed

    @property
    def options(self) -> CallOptions:
        """The timeouts, retries and deadline this client calls with."""
        return self._options

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
        return self._parse(self._request("POST", "/datasets", json=body), _NewId, note=MAYBE_ACTED).id

    def update_dataset(
        self,
        dataset_id: str,
        dataset: Dataset,
        *,
        if_unmodified_since: datetime | None = None,
        if_match: str | None = None,
    ) -> None:
        """Replaces the dataset's definition; the server empties its training history.

        A conditional write (a documented extension the reference server honours, others may ignore):
        give the `updated` of the definition you read as `if_unmodified_since`, or its ETag (the quoted
        `updated` text, as a GET's `ETag` header gives it) as `if_match`, and a server that has a newer
        definition refuses with `PreconditionFailedError` (412) instead of overwriting it.
        """
        body = Dataset.model_validate(dataset).to_request()
        headers = _preconditions(if_unmodified_since, if_match)
        self._request("PUT", _dataset_path(dataset_id), json=body, headers=headers)

    def delete_dataset(
        self, dataset_id: str, *, if_unmodified_since: datetime | None = None, if_match: str | None = None
    ) -> None:
        """Deletes the dataset; conditionally when given `if_unmodified_since` or `if_match` (see
        `update_dataset`). A retry that finds it gone after an attempt whose answer was lost succeeds."""
        headers = _preconditions(if_unmodified_since, if_match)
        self._request("DELETE", _dataset_path(dataset_id), headers=headers)

    def train_dataset(self, dataset_id: str, set_active_after_training: bool = False) -> int:
        """Starts a training and returns how many connections it uses."""
        path = "/train/" + _dataset_id_segment(dataset_id)
        params = _Query(set_active_after_training=set_active_after_training).params()
        response = self._request("POST", path, params=params, maybe_acted=TRAINING_MAY_HAVE_STARTED)
        return self._parse(response, _Count, note=TRAINING_MAY_HAVE_STARTED).count

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
        maybe_acted: str = MAYBE_ACTED,
    ) -> httpx.Response:
        """Sends one API request, retrying what is safe to retry, within the call's deadline; returns a
        2xx response (or, for a retried DELETE, see `_already_deleted`) or raises.

        `retry_safe`: repeating the request cannot act twice (by default GET, PUT, DELETE). When a request
        that is not may have been acted on, the error's sentence ends with `maybe_acted`.
        """
        if retry_safe is None:
            retry_safe = method in IDEMPOTENT_METHODS
        options = self._options
        deadline = Deadline(options.call_deadline())
        request = self._http.build_request(
            method, self._url(path), params=params or None, json=json, headers=headers,
            timeout=options.http_timeout(),
        )
        url = display_url(request.url)
        note = "" if retry_safe else maybe_acted
        attempt = 0
        may_have_arrived = False  # whether an earlier attempt may have reached the server
        while True:
            retries_left = attempt < options.max_retries
            started = time.perf_counter()
            failure: UebaError  # what the call raises if this attempt is its last
            try:
                response = self._attempt(request, deadline)
            except _DeadlineExceeded:
                raise _deadline_error(method, url, options.call_deadline(), note) from None
            except httpx.TransportError as error:
                arrived = _may_have_arrived(error, request)
                failure = _connection_error(error, method, url, note=note if arrived else "")
                # httpx's text of an invalid header quotes its value: keep it out of tracebacks too.
                cause = None if isinstance(error, httpx.LocalProtocolError) else error
                if not (retries_left and _should_retry(error, request=request, retry_safe=retry_safe)):
                    raise failure from cause
                may_have_arrived |= arrived
                reason, retry_after = type(error).__name__, None
            except ApiStatusError as error:
                # Raised by the login inside the auth flow, before the API request itself was answered,
                # so retrying cannot repeat the call's effect.
                if not (retries_left and _should_retry(error, request=request, retry_safe=retry_safe)):
                    raise
                failure, cause = error, None
                reason, retry_after = f"login answered {error.status_code}", error.retry_after
            else:
                elapsed_ms = (time.perf_counter() - started) * 1000
                logger.debug("%s %s -> %s in %.0f ms", method, url, response.status_code, elapsed_ms)
                if response.is_success or _already_deleted(response, may_have_arrived):
                    return response
                # A gateway's 502 or 504 may come after the server behind it acted; a conditional write
                # refused on a retry may have been refused because its own earlier attempt was applied.
                acted = note if response.status_code in MAYBE_FORWARDED_STATUSES else ""
                if response.status_code == 412 and may_have_arrived:
                    acted = EARLIER_ATTEMPT_MAY_HAVE_APPLIED
                failure = ApiStatusError.from_response(response, note=acted)
                cause = None
                if not (retries_left and _should_retry(response, request=request, retry_safe=retry_safe)):
                    raise failure
                may_have_arrived |= response.status_code in MAYBE_FORWARDED_STATUSES
                reason, retry_after = f"answer {response.status_code}", failure.retry_after
            delay = _calculate_retry_timeout(attempt, retry_after)
            if delay is None or not deadline.allows(delay):
                # The server asks for a longer wait than a call should sleep, or the deadline leaves no
                # time for another attempt: fail now (a status error carries the wait it asked for).
                raise failure from cause
            logger.info(
                "Retrying %s %s in %.2f s after %s (retry %d of %d)",
                method, url, delay, reason, attempt + 1, options.max_retries,
            )
            self._sleep(delay)
            attempt += 1

    def _url(self, path: str) -> httpx.URL:
        """The absolute URL of an API path, parsed once: httpx parses and joins a relative URL, and merges
        even empty query parameters, on every request (70 us of the 90 us it took to build one)."""
        url = self._urls.get(path)
        if url is None:
            if len(self._urls) >= URL_CACHE_SIZE:
                self._urls.clear()
            url = self._urls[path] = self._http.build_request("GET", API_PREFIX + path).url
        return url

    def _attempt(self, request: httpx.Request, deadline: Deadline) -> httpx.Response:
        """One exchange (the login included, if one is due), its answer read in full, ended when the
        deadline passes: each phase's timeout is capped at the time left, and the default transport holds
        every read and write to the deadline (`ueba_api.deadline`), so a trickled answer ends there too."""
        left = deadline.left()
        if left is not None:
            request.extensions["timeout"] = _capped(request.extensions["timeout"], left)
        try:
            with deadline.applied():
                return _send_and_read(self._http, request, deadline)
        except httpx.TimeoutException:
            if deadline.passed():
                raise _DeadlineExceeded from None
            raise

    @staticmethod
    def _parse(response: httpx.Response, model: type[ModelT], *, note: str = "") -> ModelT:
        try:
            return model.model_validate_json(response.content)
        except ValidationError as error:
            raise ApiResponseValidationError.from_response(response, error, note=note) from error


class _DeadlineExceeded(Exception):
    """The call's deadline passed during an attempt."""


def _capped(timeouts: dict[str, float | None], seconds: float) -> dict[str, float]:
    """httpx's per-phase timeouts, none above `seconds` (none unlimited either)."""
    return {phase: seconds if limit is None else min(limit, seconds) for phase, limit in timeouts.items()}


def _send_and_read(http: httpx.Client, request: httpx.Request, deadline: Deadline) -> httpx.Response:
    """Sends `request` and reads its whole answer, giving up (and freeing the connection) at the first
    chunk after the deadline (any transport: an injected one is not held to it inside a read)."""
    response = http.send(request, stream=True)
    if response.is_stream_consumed:  # an auth flow that reads answers (the password grant) read it
        return response
    try:
        raw = []
        for chunk in response.iter_raw():
            if deadline.passed():
                raise _DeadlineExceeded
            raw.append(chunk)
    finally:
        response.close()
    # The answer as httpx would have read it itself; the raw bytes are decoded (gzip) on reading.
    whole = httpx.Response(
        response.status_code, headers=response.headers, content=b"".join(raw), request=response.request,
        extensions=response.extensions,
    )
    whole.read()
    return whole


def _failed_request(error: httpx.TransportError) -> httpx.Request | None:
    try:
        return error.request
    except RuntimeError:  # httpx raises when no request was attached
        return None


def _may_have_arrived(error: httpx.TransportError, request: httpx.Request) -> bool:
    """Whether the server may have received `request` before `error`. Not when connecting failed, nor
    when the failure came while logging in (the token request is another request: ours had not left)."""
    if isinstance(error, NOT_SENT_ERRORS):
        return False
    return _failed_request(error) in (request, None)


def _should_retry(
    outcome: httpx.Response | httpx.TransportError | ApiStatusError,
    *,
    request: httpx.Request,
    retry_safe: bool,
) -> bool:
    """Whether an attempt that ended with `outcome` is worth sending again (cf. openai-python's
    `_should_retry`): only a 'not now' answer (429, 502, 503, 504) or a broken exchange, and only when
    repeating cannot act twice: the request is safe to repeat, or it never reached the server."""
    if isinstance(outcome, httpx.Response):
        return retry_safe and outcome.status_code in RETRY_STATUSES
    if isinstance(outcome, ApiStatusError):  # the login's answer: the request itself had not left
        return outcome.status_code in RETRY_STATUSES
    if not isinstance(outcome, RETRYABLE_TRANSPORT_ERRORS):
        return False  # e.g. an invalid header or URL: sending again would fail the same way
    return retry_safe or not _may_have_arrived(outcome, request)


def _calculate_retry_timeout(attempt: int, retry_after: float | None) -> float | None:
    """Seconds to pause before retry `attempt + 1` (cf. openai-python's `_calculate_retry_timeout`):
    the server's `Retry-After` when it named one, else exponential backoff with "equal jitter" (spreads
    clients apart, yet never waits near zero). None when the server asks for more than `MAX_RETRY_AFTER`:
    that is asking the user, not the client, to wait."""
    if retry_after is not None:
        return retry_after if retry_after <= MAX_RETRY_AFTER else None
    backoff = min(INITIAL_RETRY_DELAY * 2**attempt, MAX_RETRY_DELAY)
    return backoff / 2 + random.uniform(0, backoff / 2)


def _already_deleted(response: httpx.Response, may_have_arrived: bool) -> bool:
    """A DELETE answered 404 after an earlier attempt may have reached the server: that attempt deleted
    it and its answer was lost, so the call succeeded. (A first-attempt 404 still raises NotFoundError.)"""
    if response.request.method == "DELETE" and response.status_code == 404 and may_have_arrived:
        logger.info("DELETE %s answered 404 on a retry: the first attempt deleted it",
                    display_url(response.request.url))
        return True
    return False


class _Preconditions(BaseModel):
    model_config = ConfigDict(title="UebaClient arguments")

    if_unmodified_since: datetime | None = None
    if_match: EntityTags | None = None


def _preconditions(if_unmodified_since: datetime | None, if_match: str | None) -> dict[str, str] | None:
    """The `If-Unmodified-Since` (an HTTP-date, as RFC 9110 13.1.4 requires: whole seconds, GMT) and
    `If-Match` headers of a conditional write; None when neither is given."""
    given = _Preconditions(if_unmodified_since=if_unmodified_since, if_match=if_match)
    headers = {}
    if given.if_unmodified_since is not None:
        headers["If-Unmodified-Since"] = email.utils.format_datetime(as_utc(given.if_unmodified_since),
                                                                     usegmt=True)
    if given.if_match is not None:
        headers["If-Match"] = given.if_match
    return headers or None


def _dataset_id_segment(dataset_id: str) -> str:
    return quote(_PathIds(dataset_id=dataset_id).dataset_id, safe="")


def _dataset_path(dataset_id: str) -> str:
    return "/datasets/" + _dataset_id_segment(dataset_id)


def _deadline_error(method: str, url: str, seconds: float | None, note: str) -> ApiTimeoutError:
    message = f"{method} {url} got no complete answer within its deadline of {readable_seconds(seconds or 0)}"
    return ApiTimeoutError(f"{message}; {note}" if note else message, method=method, url=url,
                           may_have_acted=bool(note))


def _connection_error(error: httpx.TransportError, method: str, url: str, *, note: str) -> ApiConnectionError:
    """The error for a failed exchange; `note` (may have been acted on) ends its sentence."""
    # httpx's own sentences may end with a full stop; the note, if any, follows after a semicolon.
    detail = str(error).rstrip(".") or type(error).__name__
    if isinstance(error, httpx.TimeoutException):
        phase = TIMEOUT_WHEN.get(type(error), "")
        message = f"{method} {url} timed out {phase}".rstrip()
        error_class: type[ApiConnectionError] = ApiTimeoutError
    elif isinstance(error, httpx.ConnectError):
        message = f"Could not connect for {method} {url}: {detail}"
        error_class = ApiConnectionError
    elif isinstance(error, httpx.LocalProtocolError):
        # httpx's text quotes the offending header, whose value may be a token: never show it.
        message = f"{method} {url} was not sent: it is not valid HTTP (e.g. a header holds a line break)"
        error_class = ApiConnectionError
    else:
        message = f"{method} {url} failed: {detail}"
        error_class = ApiConnectionError
    if note:
        message += f"; {note}"
    return error_class(message, method=method, url=url, may_have_acted=bool(note))
