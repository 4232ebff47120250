"""Every error the UEBA client raises, as one hierarchy.

```
UebaError
├── ApiConnectionError            the server could not be reached, or the exchange broke off
│   └── ApiTimeoutError
├── ApiResponseValidationError    a success answer whose body this client cannot read
└── ApiStatusError                the server answered 4xx/5xx (an unknown 4xx stays this class)
    ├── BadRequestError 400, AuthenticationError 401, PermissionDeniedError 403,
    ├── NotFoundError 404, ConflictError 409, PreconditionFailedError 412,
    └── RateLimitError 429, ServerError 5xx
```

`str(error)` is one sentence a UI may show as it is: a body that is an HTML page (a proxy's or gateway's
error page) is told by its visible text, never as markup. Errors carry method and URL but never a
request's headers, so no token or client secret can leak through them. A status error whose answer named
a `Retry-After` carries it as `retry_after` (seconds). `may_have_acted` is True when the call may have
been carried out although it failed (a create or a train whose answer was lost): its sentence says so.
"""

from __future__ import annotations

import email.utils
import html
import json
import math
import re
from datetime import UTC, datetime

import httpx
from pydantic import ValidationError

from ueba_api.models import ErrorBody, ErrorCode

# How much of a body that is not a contract error (a gateway's HTML page, say) is kept as text.
MAX_BODY_TEXT = 500
MAX_TEXT_IN_MESSAGE = 200
# An HTML page's head, scripts, styles and comments hold no text a reader sees; its tags are markup.
_HTML_HIDDEN = re.compile(r"<(head|script|style)\b.*?</\1\s*>|<!--.*?-->", re.IGNORECASE | re.DOTALL)
_HTML_TAG = re.compile(r"<[^>]*>")
_HTML_TITLE = re.compile(r"<title\b[^>]*>(.*?)</title\s*>", re.IGNORECASE | re.DOTALL)

READABLE_ERROR_CODES = {
    "GENERAL_ERROR": "Error",
    "BAD_REQUEST": "Bad request",
    "PERMISSION_DENIED": "Permission denied",
    "INVALID_REQUEST_DATA": "Invalid request data",
    "REQUIRED_VALUE_MISSING": "Required value missing",
    "VALUE_OUT_OF_BOUNDS": "Value out of bounds",
    "VALUE_INCORRECT_TYPE": "Value of incorrect type",
    "VALUE_INCORRECT_FORMAT": "Value in incorrect format",
    "VALUE_DUPLICATE": "Duplicate value",
    "CONFIGURATION_ERROR": "Configuration error",
    "OUT_OF_RESOURCES": "Server out of resources",
    "MAX_LOAD": "Server at maximum load",
    "TOO_MANY_CONNECTIONS": "Too many connections",
    "DATABASE_ERROR": "Database error",
    "CACHE_ERROR": "Cache error",
    "INTRA_SERVICE_COMMUNICATION_ERROR": "Internal service communication error",
    # The OAuth2 token endpoint answers with RFC 6749 codes instead.
    "invalid_client": "OAuth client rejected",
    "invalid_grant": "Login failed",
    "invalid_request": "Invalid login request",
    "unauthorized_client": "OAuth client not authorized",
    "unsupported_grant_type": "Grant type not supported",
    "invalid_scope": "Invalid scope",
}


def display_url(url: httpx.URL) -> str:
    """The URL without any user:password part, for messages and logs."""
    return str(url.copy_with(userinfo=b"")) if url.userinfo else str(url)


def retry_after_seconds(value: str | None) -> float | None:
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


def readable_seconds(seconds: float) -> str:
    """E.g. `45 s`, `2 min`, `1.5 h`: a wait as a person reads it."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _trimmed(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class UebaError(Exception):
    """The base of every error this client raises."""

    may_have_acted: bool = False
    """Whether the server may have carried the call out although it failed; set by the client."""


class ApiConnectionError(UebaError):
    """No answer: the connection failed, or broke off before a response arrived."""

    def __init__(self, message: str, *, method: str, url: str, may_have_acted: bool = False) -> None:
        super().__init__(message)
        self.method = method
        self.url = url
        self.may_have_acted = may_have_acted


class ApiTimeoutError(ApiConnectionError):
    """The server took longer than the client's timeout."""


class ApiResponseValidationError(UebaError):
    """A 2xx answer whose body does not have the shape the contract promises."""

    def __init__(
        self, message: str, *, status_code: int, method: str, url: str, body_text: str,
        may_have_acted: bool = False,
    ) -> None:  # fmt: skip
        super().__init__(message)
        self.status_code = status_code
        self.method = method
        self.url = url
        self.body_text = body_text
        self.may_have_acted = may_have_acted

    @classmethod
    def from_response(
        cls, response: httpx.Response, error: ValidationError, *, keep_body: bool = True, note: str = ""
    ) -> ApiResponseValidationError:
        request = response.request
        url = display_url(request.url)
        problem = error.errors()[0]
        where = ".".join(str(part) for part in problem["loc"]) or "body"
        sentence = f"Unexpected answer from {request.method} {url}: {problem['msg']} ({where})"
        return cls(
            f"{sentence}; {note}" if note else sentence,
            status_code=response.status_code,
            method=request.method,
            url=url,
            body_text=_trimmed(response.text, MAX_BODY_TEXT) if keep_body else "",
            may_have_acted=bool(note),
        )


class ApiStatusError(UebaError):
    """The server answered with a 4xx or 5xx status."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        method: str,
        url: str,
        error_code: str | None = None,
        error_message: str | None = None,
        property: str | None = None,
        details: list[ErrorBody | None] | None = None,
        body_text: str = "",
        retry_after: float | None = None,
        may_have_acted: bool = False,
    ) -> None:
        super().__init__(message)
        self.may_have_acted = may_have_acted
        self.status_code = status_code
        self.retry_after = retry_after
        self.error_code = error_code
        self.error_message = error_message
        self.property = property
        self.details = details or []
        self.method = method
        self.url = url
        self.body_text = body_text

    @classmethod
    def from_response(
        cls, response: httpx.Response, error_class: type[ApiStatusError] | None = None, *, note: str = ""
    ) -> ApiStatusError:
        """The typed error for a 4xx/5xx answer, whatever its body looks like; by default its class
        follows the status. `note` ends the sentence (what the caller should know, e.g. that the
        server may have acted)."""
        request = response.request
        body = _error_body(response.content)
        error_class = error_class or _class_for_status(response.status_code)
        retry_after = retry_after_seconds(response.headers.get("Retry-After"))
        notes = [note] if note else []
        if retry_after is not None:
            notes.append(f"the server asks to wait {readable_seconds(retry_after)} before trying again")
        return error_class(
            "; ".join([_sentence(response, body), *notes]),
            status_code=response.status_code,
            method=request.method,
            url=display_url(request.url),
            error_code=_code_text(body.error_code) if body else None,
            error_message=body.error_message if body else None,
            property=body.property if body else None,
            details=body.details if body else [],
            body_text=_trimmed(response.text, MAX_BODY_TEXT),
            retry_after=retry_after,
            may_have_acted=bool(note),
        )


class BadRequestError(ApiStatusError):
    """400: the request was malformed or held invalid values (`property` says which)."""


class AuthenticationError(ApiStatusError):
    """401: no valid token; also a refused login (OAuth2 answers bad credentials with 400 or 401)."""


class PermissionDeniedError(ApiStatusError):
    """403: logged in, but without the permission the call needs."""


class NotFoundError(ApiStatusError):
    """404: no such dataset (or endpoint)."""


class ConflictError(ApiStatusError):
    """409: a training is already running, or the dataset's state forbids the change."""


class PreconditionFailedError(ApiStatusError):
    """412: a conditional write (`If-Unmodified-Since` / `If-Match`) found the dataset changed since the
    caller read it; nothing was written. Read it again, then decide."""


class RateLimitError(ApiStatusError):
    """429: too many requests; `retry_after` is the wait the server asked for, in seconds, if it named
    one. Raised at once, without waiting, when that wait is longer than the client will sleep."""


class ServerError(ApiStatusError):
    """5xx: the server, or a gateway in front of it, failed."""


_CLASS_BY_STATUS: dict[int, type[ApiStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    412: PreconditionFailedError,
    429: RateLimitError,
}


def _class_for_status(status_code: int) -> type[ApiStatusError]:
    if status_code >= 500:
        return ServerError
    return _CLASS_BY_STATUS.get(status_code, ApiStatusError)


def _error_body(content: bytes) -> ErrorBody | None:
    """The contract's error body, or the OAuth2 one mapped onto it; None for anything else."""
    try:
        data = json.loads(content)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    if "error" in data and "error_code" not in data:
        data = {"error_code": data["error"], "error_message": data.get("error_description")}
    try:
        body = ErrorBody.model_validate(data)
    except ValidationError:
        return None
    return body if body.error_code or body.error_message else None


def _code_text(error_code: ErrorCode | str | None) -> str | None:
    """Known codes arrive as `ErrorCode` members, unknown ones as text: callers get plain text either way."""
    return error_code.value if isinstance(error_code, ErrorCode) else error_code


def _readable_code(error_code: ErrorCode | str) -> str:
    code = _code_text(error_code) or ""
    return READABLE_ERROR_CODES.get(code, code)


def _with_property(message: str, property: str | None) -> str:
    return f"{message} ({property})" if property else message


def _sentence(response: httpx.Response, body: ErrorBody | None) -> str:
    """E.g. `Invalid request data: end must be after start (time_range_settings.end)`."""
    status = f"HTTP {response.status_code} {response.reason_phrase}".rstrip()
    if body is None:
        request = response.request
        if _is_html(response):
            text = _trimmed(_page_text(response.text), MAX_TEXT_IN_MESSAGE)
            told = f"a web page saying “{text}”" if text else "an empty web page"
            return f"{status} from {request.method} {display_url(request.url)}: {told}"
        text = _trimmed(response.text, MAX_TEXT_IN_MESSAGE) or "(empty body)"
        return f"{status} from {request.method} {display_url(request.url)}: {text}"
    prefix = _readable_code(body.error_code) if body.error_code else status
    sentence = _with_property(f"{prefix}: {body.error_message or status}", body.property)
    nested = [
        _with_property(detail.error_message or _readable_code(detail.error_code), detail.property)
        for detail in body.details
        if detail is not None and (detail.error_message or detail.error_code)
    ]
    return "; ".join([sentence, *nested])


def _is_html(response: httpx.Response) -> bool:
    """Said to be HTML, or a document that starts as one (some gateways send their pages as text/plain)."""
    if "html" in response.headers.get("Content-Type", "").lower():
        return True
    return response.text.lstrip()[:14].lower().startswith(("<!doctype html", "<html"))


def _page_text(page: str) -> str:
    """What a reader of the HTML page sees, on one line: its visible text, else its title."""
    visible = html.unescape(_HTML_TAG.sub(" ", _HTML_HIDDEN.sub(" ", page)))
    if visible.strip():
        return " ".join(visible.split())
    title = _HTML_TITLE.search(page)
    return " ".join(html.unescape(title.group(1)).split()) if title else ""
