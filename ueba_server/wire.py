"""JSON answers built from the store's dicts in one serialisation: the route returns the bytes, so FastAPI
does not validate and serialise the same data a second time through the response model."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Response


def json_response(content: Any, *, status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()
    return Response(body, status_code=status_code, headers=headers, media_type="application/json")
