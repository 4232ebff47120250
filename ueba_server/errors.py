"""Where every error becomes an HTTP answer: the one module that maps exceptions to status codes.

The UEBA endpoints answer the contract's body `{error_code, error_message, property, details}`; the
token endpoint answers OAuth2's `{error, error_description}`. Request validation errors become 400 with
a code derived from the pydantic error type and `property` set to the field's path
(`time_range_settings.exclude[0].end`, `bin_count`, `dataset_id`). The store's own exceptions
(not found, conflict, stale write, training cap) are mapped here too, so no route translates errors.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from ueba_api.models import ErrorCode
from ueba_server.dataset_store import DatasetConflict, DatasetNotFound, StaleWrite, TooManyTrainings

logger = logging.getLogger("ueba_server")

# Pydantic error types, by the contract code they mean. Custom errors raised by our own validators
# use the contract code itself as their type (see schemas.py).
_CODES_BY_PYDANTIC_TYPE: dict[str, ErrorCode] = {
    "missing": ErrorCode.REQUIRED_VALUE_MISSING,
    "json_invalid": ErrorCode.INVALID_REQUEST_DATA,
    "extra_forbidden": ErrorCode.INVALID_REQUEST_DATA,
    "enum": ErrorCode.INVALID_REQUEST_DATA,
    "literal_error": ErrorCode.INVALID_REQUEST_DATA,
    "value_error": ErrorCode.INVALID_REQUEST_DATA,
    "datetime_parsing": ErrorCode.VALUE_INCORRECT_FORMAT,
    "datetime_from_date_parsing": ErrorCode.VALUE_INCORRECT_FORMAT,
    "timezone_aware": ErrorCode.VALUE_INCORRECT_FORMAT,
    "uuid_parsing": ErrorCode.VALUE_INCORRECT_FORMAT,
    "uuid_type": ErrorCode.VALUE_INCORRECT_FORMAT,
    "uuid_version": ErrorCode.VALUE_INCORRECT_FORMAT,
    "greater_than": ErrorCode.VALUE_OUT_OF_BOUNDS,
    "greater_than_equal": ErrorCode.VALUE_OUT_OF_BOUNDS,
    "less_than": ErrorCode.VALUE_OUT_OF_BOUNDS,
    "less_than_equal": ErrorCode.VALUE_OUT_OF_BOUNDS,
    "too_long": ErrorCode.VALUE_OUT_OF_BOUNDS,
    "too_short": ErrorCode.VALUE_OUT_OF_BOUNDS,
    "string_too_long": ErrorCode.VALUE_OUT_OF_BOUNDS,
    "finite_number": ErrorCode.VALUE_OUT_OF_BOUNDS,
}

# Clearer words than pydantic's for the errors people meet most; the field's path goes in `property`.
_MESSAGES_BY_PYDANTIC_TYPE = {
    "missing": "A value is required",
    "extra_forbidden": "Unknown field",
    "model_type": "Must be a JSON object",
    "model_attributes_type": "Must be a JSON object",
    "dict_type": "Must be a JSON object",
    "datetime_parsing": "Must be an RFC 3339 timestamp such as 2024-01-31T00:00:00Z",
    "datetime_from_date_parsing": "Must be an RFC 3339 timestamp such as 2024-01-31T00:00:00Z",
    "timezone_aware": "Must be an RFC 3339 timestamp with a time zone, such as 2024-01-31T00:00:00Z",
    "uuid_parsing": "Must be a UUID such as 5bf77342-221c-11ee-be56-0242ac120002",
}

_CODES_BY_STATUS = {
    401: ErrorCode.GENERAL_ERROR,
    403: ErrorCode.PERMISSION_DENIED,
    404: ErrorCode.GENERAL_ERROR,
    405: ErrorCode.BAD_REQUEST,
    409: ErrorCode.GENERAL_ERROR,
    412: ErrorCode.GENERAL_ERROR,
    413: ErrorCode.VALUE_OUT_OF_BOUNDS,
}


class ApiError(Exception):
    """An error answered with the contract body; raise it anywhere below a route."""

    def __init__(
        self,
        status_code: int,
        message: str,
        *,
        code: ErrorCode = ErrorCode.GENERAL_ERROR,
        property: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.code = code
        self.property = property
        self.headers = headers


class OAuthError(Exception):
    """Answered in the OAuth2 shape `{error, error_description}`, not the UEBA error body."""

    def __init__(
        self, status_code: int, error: str, description: str, *, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(description)
        self.status_code = status_code
        self.error = error
        self.description = description
        self.headers = headers


class OAuthErrorBody(BaseModel):
    error: str
    error_description: str


def error_body(
    code: ErrorCode | str, message: str, property: str | None = None, details: Sequence[dict | None] = ()
) -> dict[str, Any]:
    return {
        "error_code": code.value if isinstance(code, ErrorCode) else code,
        "error_message": message,
        "property": property,
        "details": list(details),
    }


def field_path(location: Sequence[str | int]) -> str:
    """`("body", "time_range_settings", "exclude", 0, "end")` -> `time_range_settings.exclude[0].end`.

    The body as a whole (say, a missing one) is `body`.
    """
    parts = list(location)
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    path = ""
    for part in parts:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path or "body"


def _validation_detail(error: dict[str, Any]) -> dict[str, Any]:
    error_type = error["type"]
    code = _CODES_BY_PYDANTIC_TYPE.get(error_type)
    if code is None:
        code = (
            ErrorCode(error_type) if error_type in ErrorCode.__members__ else ErrorCode.VALUE_INCORRECT_TYPE
        )
    location = error.get("loc", ())
    property = field_path(location)
    message = _MESSAGES_BY_PYDANTIC_TYPE.get(error_type) or error.get("msg", "Invalid value")
    if error_type == "json_invalid":
        property = "body"
        message = f"Malformed JSON: {error.get('ctx', {}).get('error', 'cannot be parsed')}"
    return error_body(code, message, property)


async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
    details = [_validation_detail(error) for error in exc.errors()]
    first = details[0] if details else error_body(ErrorCode.INVALID_REQUEST_DATA, "Invalid request data")
    body = {**first, "details": details}
    return JSONResponse(body, status_code=400)


async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
    return JSONResponse(
        error_body(exc.code, exc.message, exc.property), status_code=exc.status_code, headers=exc.headers
    )


async def _not_found(_: Request, exc: DatasetNotFound) -> JSONResponse:
    return JSONResponse(error_body(ErrorCode.GENERAL_ERROR, str(exc), "dataset_id"), status_code=404)


async def _conflict(_: Request, exc: DatasetConflict) -> JSONResponse:
    return JSONResponse(error_body(ErrorCode.GENERAL_ERROR, str(exc)), status_code=409)


async def _stale_write(_: Request, exc: StaleWrite) -> JSONResponse:
    return JSONResponse(error_body(ErrorCode.GENERAL_ERROR, str(exc), exc.header), status_code=412)


async def _too_many_trainings(_: Request, exc: TooManyTrainings) -> JSONResponse:
    # 429 with Retry-After: the refusal is about load, not the dataset; the same call later succeeds.
    body = error_body(ErrorCode.GENERAL_ERROR, str(exc))
    return JSONResponse(body, status_code=429, headers={"Retry-After": str(exc.retry_after_seconds)})


async def _oauth_error(_: Request, exc: OAuthError) -> JSONResponse:
    headers = dict(exc.headers or {})
    if exc.status_code == 401:
        headers["WWW-Authenticate"] = 'Basic realm="privx"'
    body = OAuthErrorBody(error=exc.error, error_description=exc.description).model_dump()
    return JSONResponse(body, status_code=exc.status_code, headers=headers or None)


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    code = _CODES_BY_STATUS.get(exc.status_code, ErrorCode.BAD_REQUEST)
    if exc.status_code == 404:
        message = f"Not found: {request.method} {request.url.path}"
    elif exc.status_code == 405:
        message = f"Method {request.method} is not allowed on {request.url.path}"
    else:
        message = str(exc.detail)
    property = "body" if exc.status_code == 413 else None
    return JSONResponse(error_body(code, message, property), status_code=exc.status_code, headers=exc.headers)


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    logger.exception("Unexpected error in %s %s", request.method, request.url.path, exc_info=exc)
    body = error_body(ErrorCode.GENERAL_ERROR, "Internal server error: see the server log")
    return JSONResponse(body, status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(DatasetNotFound, _not_found)
    app.add_exception_handler(DatasetConflict, _conflict)
    app.add_exception_handler(StaleWrite, _stale_write)
    app.add_exception_handler(TooManyTrainings, _too_many_trainings)
    app.add_exception_handler(OAuthError, _oauth_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
