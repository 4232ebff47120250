"""Strict request bodies of the reference server.

The client's models (`ueba_api.models`) read tolerantly; these reject what the contract forbids: naive or
non-string timestamps, an end at or before its start, unknown fields, values beyond the server's limits.
Errors raised here use a contract error code as their pydantic error type, so that `errors.py` reports
that code as is.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StrictBool,
    StrictStr,
    ValidationInfo,
    field_validator,
)
from pydantic_core import PydanticCustomError

from ueba_api.limits import MAX_COMMENT_LENGTH, MAX_EXCLUDED_PERIODS
from ueba_api.models import AnomalyAction, as_utc, format_utc


def _timestamp_text(value: Any) -> Any:
    if not isinstance(value, str):
        raise PydanticCustomError(
            "VALUE_INCORRECT_TYPE", "must be an RFC 3339 timestamp string such as 2024-01-31T00:00:00Z"
        )
    return value


def _in_utc(value: datetime) -> datetime:
    try:
        return as_utc(value)
    except OverflowError:  # 0001-01-01T00:00:00+01:00 is before the first representable UTC moment
        raise PydanticCustomError(
            "VALUE_OUT_OF_BOUNDS", "must fall between the years 1 and 9999 once converted to UTC"
        ) from None


Timestamp = Annotated[
    AwareDatetime,
    BeforeValidator(_timestamp_text),
    AfterValidator(_in_utc),
    PlainSerializer(format_utc, return_type=str, when_used="json-unless-none"),
]
"""An RFC 3339 string with a time zone (`Z` or an offset), held in UTC; stored and answered as the
contract writes it (`...Z`, fractions only when there are any), so stored JSON goes out unchanged."""


def _end_after_start(end: datetime | None, info: ValidationInfo) -> datetime | None:
    start = info.data.get("start")
    if end is not None and start is not None and end <= start:
        raise PydanticCustomError("INVALID_REQUEST_DATA", "end must be after start")
    return end


def _none_as_empty(value: Any) -> Any:
    return [] if value is None else value


class StrictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PeriodRequest(StrictRequest):
    """A half-open period `[start, end)`."""

    start: Timestamp
    end: Timestamp

    _check_end = field_validator("end")(_end_after_start)


class TimeRangeRequest(StrictRequest):
    """Connections whose start is in `[start, end)` and in none of `exclude`; a missing bound is open."""

    start: Timestamp | None = None
    end: Timestamp | None = None
    exclude: Annotated[
        list[PeriodRequest], BeforeValidator(_none_as_empty), Field(max_length=MAX_EXCLUDED_PERIODS)
    ] = Field(default_factory=list)

    _check_end = field_validator("end")(_end_after_start)


IGNORED = "Set by the server; accepted and ignored in a request."


class DatasetRequest(StrictRequest):
    """The body of create and update. The server-owned fields of a Dataset may be echoed back."""

    time_range_settings: TimeRangeRequest
    comment: Annotated[StrictStr, Field(max_length=MAX_COMMENT_LENGTH)] | None = None
    use_for_inference_once_trained: StrictBool = False

    id: Any = Field(default=None, description=IGNORED)
    last_training: Any = Field(default=None, description=IGNORED)
    is_active: Any = Field(default=None, description="Ignored: use start-analyzing / stop-analyzing.")
    training_results: Any = Field(default=None, description=IGNORED)
    created: Any = Field(default=None, description=IGNORED)
    created_by: Any = Field(default=None, description=IGNORED)
    updated: Any = Field(default=None, description=IGNORED)
    updated_by: Any = Field(default=None, description=IGNORED)


class AnomalySettingsRequest(StrictRequest):
    action: AnomalyAction
    threshold: Annotated[float, Field(strict=True, ge=0.0, le=1.0, allow_inf_nan=False)]


class ConfigurationRequest(StrictRequest):
    address: Annotated[StrictStr, Field(max_length=2048)]
    trust_anchors: StrictStr


class CreatedId(BaseModel):
    id: str


class ConnectionCount(BaseModel):
    count: int
