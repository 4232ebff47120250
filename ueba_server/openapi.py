"""Shared route metadata, so that /openapi.json documents the contract's errors on every endpoint."""

from __future__ import annotations

from typing import Any

from ueba_api.models import ErrorBody

UEBA_PREFIX = "/connection-manager/api/v1/ueba"

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {
        "model": ErrorBody,
        "description": "Bad request: malformed JSON or invalid values (`property` says which)",
    },
    401: {"model": ErrorBody, "description": "OAuth2 authorization missing or invalid"},
    403: {"model": ErrorBody, "description": "Authorization OK but permission insufficient"},
    404: {"model": ErrorBody, "description": "Resource not found"},
    409: {
        "model": ErrorBody,
        "description": "Conflicts with the dataset's state (training on-going, active)",
    },
    413: {"model": ErrorBody, "description": "Request body too large"},
    500: {"model": ErrorBody, "description": "Internal server error"},
}

EMPTY_OK: dict[int | str, dict[str, Any]] = {200: {"description": "Done; the body is empty"}}

# Extensions of the contract, declared where they apply.
CONDITIONAL_RESPONSES: dict[int | str, dict[str, Any]] = {
    412: {"model": ErrorBody, "description": "Changed since the version If-Match / If-Unmodified-Since names"}
}
TRAINING_CAP_RESPONSES: dict[int | str, dict[str, Any]] = {
    429: {"model": ErrorBody, "description": "The cap of concurrent trainings is reached (see Retry-After)"}
}
