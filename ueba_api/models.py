"""Typed models of the UEBA API, one per concept.

Reading is tolerant, because real PrivX servers are many versions apart: unknown fields are ignored,
optional fields may be null, unknown enum values stay plain text and timestamps may carry `Z`,
`+00:00` or fractions. A null where a plain value is needed reads as its default, so callers need no
None checks: a null flag is False, a null list empty, a null `count` the number of items, a null number
inside a loss curve or histogram NaN (it keeps its position: the epoch or bin of the values after it),
and a run without a `status` reads as `MISSING_STATUS`. One odd dataset thus cannot make a whole list
unreadable. Writing is strict: timestamps leave as RFC 3339 UTC with `Z`, and only the fields a client
owns are ever sent (see `Dataset.to_request`).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    model_validator,
)


def as_utc(value: datetime) -> datetime:
    """A naive datetime is taken to be UTC; an aware one is converted to UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def format_utc(value: datetime) -> str:
    """RFC 3339 in UTC with a `Z` suffix; fractions only when there are any."""
    value = as_utc(value)
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    if value.microsecond:
        text += f".{value.microsecond:06d}".rstrip("0")
    return text + "Z"


def enum_text(value: Any) -> Any:
    """An enum's value, or the text itself: servers may send values this client does not know."""
    return getattr(value, "value", value)


def _none_as_empty_list(value: Any) -> Any:
    return [] if value is None else value


def _none_as_false(value: Any) -> Any:
    return False if value is None else value


def _none_as_nan(value: Any) -> Any:
    return math.nan if value is None else value


UtcDateTime = Annotated[
    datetime,
    AfterValidator(as_utc),
    PlainSerializer(format_utc, return_type=str, when_used="json-unless-none"),
]
"""A timestamp that is always timezone-aware UTC, and `...Z` on the wire."""

NullableList = BeforeValidator(_none_as_empty_list)

NullableFlag = Annotated[bool, BeforeValidator(_none_as_false)]
"""A boolean where null reads as False: the contract's flags all default to false."""

FloatOrNaN = Annotated[float, BeforeValidator(_none_as_nan)]
"""A number in a series (a loss per epoch, a count per bin) where null reads as NaN.

NaN rather than dropping the value, so later values keep their epoch or bin; NaN rather than None, so
the series stays `list[float]` and numpy, pandas and altair treat the gap as missing data.
"""

FloatSeries = Annotated[list[FloatOrNaN], NullableList]


class ApiModel(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True, use_enum_values=False)


class TrainingStatus(StrEnum):
    TRAINING = "TRAINING"
    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"


MISSING_STATUS = "UNKNOWN"
"""The status of a run whose `status` the server left out or sent as null.

The contract requires `status`, but one such run must not make its dataset, and so the whole list,
unreadable. It is plain text like any status this client does not know (not a `TrainingStatus`), so
nothing takes the run for finished, successful or failed.
"""


class AnomalyAction(StrEnum):
    BLOCK = "BLOCK"
    AUDIT = "AUDIT"


class ServiceState(StrEnum):
    RUNNING = "RUNNING"
    WARNING = "WARNING"
    ERROR = "ERROR"
    PENDING = "PENDING"


class ErrorCode(StrEnum):
    GENERAL_ERROR = "GENERAL_ERROR"
    BAD_REQUEST = "BAD_REQUEST"
    PERMISSION_DENIED = "PERMISSION_DENIED"
    INVALID_REQUEST_DATA = "INVALID_REQUEST_DATA"
    REQUIRED_VALUE_MISSING = "REQUIRED_VALUE_MISSING"
    VALUE_OUT_OF_BOUNDS = "VALUE_OUT_OF_BOUNDS"
    VALUE_INCORRECT_TYPE = "VALUE_INCORRECT_TYPE"
    VALUE_INCORRECT_FORMAT = "VALUE_INCORRECT_FORMAT"
    VALUE_DUPLICATE = "VALUE_DUPLICATE"
    CONFIGURATION_ERROR = "CONFIGURATION_ERROR"
    OUT_OF_RESOURCES = "OUT_OF_RESOURCES"
    MAX_LOAD = "MAX_LOAD"
    TOO_MANY_CONNECTIONS = "TOO_MANY_CONNECTIONS"
    DATABASE_ERROR = "DATABASE_ERROR"
    CACHE_ERROR = "CACHE_ERROR"
    INTRA_SERVICE_COMMUNICATION_ERROR = "INTRA_SERVICE_COMMUNICATION_ERROR"


# An enum value this client does not know is kept as its text rather than rejected.
Status = Annotated[TrainingStatus | str, Field(union_mode="left_to_right")]
Action = Annotated[AnomalyAction | str, Field(union_mode="left_to_right")]
State = Annotated[ServiceState | str, Field(union_mode="left_to_right")]
Code = Annotated[ErrorCode | str, Field(union_mode="left_to_right")]


class Period(ApiModel):
    """A half-open period `[start, end)`; used for excluded periods."""

    start: UtcDateTime
    end: UtcDateTime


class TimeRange(ApiModel):
    """`time_range_settings`, also the body of `query-connection-count`.

    A missing `start` or `end` is unbounded on that side.
    """

    start: UtcDateTime | None = None
    end: UtcDateTime | None = None
    exclude: Annotated[list[Period], NullableList] = Field(default_factory=list)

    def to_request(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)


class Histogram(ApiModel):
    # A null count or edge reads as NaN; `frames.histogram_frame` then refuses the histogram by name, as
    # it cannot be drawn, while the run's other numbers stay readable.
    hist: FloatSeries = Field(default_factory=list)
    bin_edges: FloatSeries = Field(default_factory=list)


class TrainingResult(ApiModel):
    created: UtcDateTime | None = None
    feature_config_name: str | None = None
    # Required, as the contract says (and the reference server's OpenAPI document shows), yet read
    # tolerantly: see `MISSING_STATUS` and `_status_given`.
    status: Status
    error_code: str | None = None
    error_details: str | None = None
    num_connections: int | None = None
    mean: float | None = None
    std: float | None = None
    quantile_99: float | None = None
    quantile_999: float | None = None
    training_log: str | None = None
    # Losses per epoch; an epoch whose loss the server sent as null is NaN (see `FloatOrNaN`).
    training_dataset_loss: FloatSeries = Field(default_factory=list)
    validation_dataset_loss: FloatSeries = Field(default_factory=list)
    validation_dataset_histogram: Histogram | None = None
    dataset_id: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _status_given(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("status") is None:
            return {**data, "status": MISSING_STATUS}
        return data

    @property
    def failure_cause(self) -> str:
        """`error_code: error_details`, with whichever of them the server gave ("" if neither)."""
        return ": ".join(part for part in (self.error_code, self.error_details) if part)


# The only fields a client may set; everything else on a Dataset belongs to the server.
WRITABLE_DATASET_FIELDS = frozenset({"time_range_settings", "comment", "use_for_inference_once_trained"})


class Dataset(ApiModel):
    id: str | None = None
    last_training: UtcDateTime | None = None
    # Null reads as False: a server that cannot say a dataset is active is not analyzing with it.
    is_active: NullableFlag = False
    use_for_inference_once_trained: NullableFlag = False
    time_range_settings: TimeRange
    training_results: Annotated[list[TrainingResult], NullableList] = Field(default_factory=list)
    comment: str | None = None
    created: UtcDateTime | None = None
    created_by: str | None = None
    updated: UtcDateTime | None = None
    updated_by: str | None = None

    def to_request(self) -> dict[str, Any]:
        """The body of a create or update: client-owned fields only, timestamps with `Z`.

        `is_active` is left out too: activation has its own endpoints (start/stop analyzing).
        """
        body = self.model_dump(mode="json", include=set(WRITABLE_DATASET_FIELDS))
        body["time_range_settings"] = self.time_range_settings.to_request()
        if body.get("comment") is None:
            body.pop("comment", None)
        return body

    @property
    def latest_result(self) -> TrainingResult | None:
        return self.training_results[-1] if self.training_results else None

    @property
    def comment_title(self) -> str | None:
        """The first line of the comment, which names the dataset in lists; None without a comment."""
        lines = (self.comment or "").strip().splitlines()
        return lines[0] if lines else None


class DatasetList(ApiModel):
    count: int = 0
    """The server's count; when it sends none (or null), the number of items in the answer."""
    items: Annotated[list[Dataset], NullableList] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _count_from_items(cls, data: Any) -> Any:
        # A 0 beside a list of datasets would be wrong; the items are the best count there is.
        if isinstance(data, dict) and data.get("count") is None:
            items = data.get("items")
            return {**data, "count": len(items) if isinstance(items, list) else 0}
        return data


class AnomalySettings(ApiModel):
    action: Action
    # Bounds (0..1) are checked when writing, in the client: a server may report what it likes.
    threshold: float


class UebaConfiguration(ApiModel):
    address: str | None = None
    trust_anchors: str | None = None


class StatusIssue(ApiModel):
    severity: str | None = None
    code: str | None = None
    message: str | None = None
    created: UtcDateTime | None = None
    updated: UtcDateTime | None = None


class StatusDetail(ApiModel):
    k: str | None = None
    v: Any = None


class ServiceStatus(ApiModel):
    version: str | None = None
    api_version: str | None = None
    status: State | None = None
    status_message: str | None = None
    app_id: str | None = None
    start_time: UtcDateTime | None = None
    issues: Annotated[list[StatusIssue], NullableList] = Field(default_factory=list)
    status_details: Annotated[list[StatusDetail], NullableList] = Field(default_factory=list)


class ModelInstance(ApiModel):
    id: str | None = None
    feature_config_name: str | None = None
    status: str | None = None
    created: UtcDateTime | None = None


class InternalStatus(ApiModel):
    training_status: str | None = None
    inference_status: str | None = None
    dataset_id: str | None = None
    # Older PrivX versions call the list `model_instance_status`.
    instances: Annotated[
        list[ModelInstance],
        NullableList,
        Field(validation_alias=AliasChoices("instances", "model_instance_status")),
    ] = Field(default_factory=list)


class ErrorBody(ApiModel):
    error_code: Code | None = None
    error_message: str | None = None
    property: str | None = None
    details: Annotated[list[ErrorBody | None], NullableList] = Field(default_factory=list)
