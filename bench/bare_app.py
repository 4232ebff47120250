"""The floor for `server_vs_bare`: a bare Starlette app that answers every GET with the same bytes.

    UEBA_BENCH_BODY=/path/to/body.json python -m uvicorn bench.bare_app:app --port 8000

The body is a file (what our server answered), read once at start; `server_vs_bare` runs uvicorn as the
reference server runs it (`ueba_server.cli`: log level info, so an access-log line a request), so the
difference is what our server does per request.
"""

from __future__ import annotations

import os
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

BODY_VARIABLE = "UEBA_BENCH_BODY"
BODY = Path(os.environ[BODY_VARIABLE]).read_bytes() if BODY_VARIABLE in os.environ else b"{}"


async def same_bytes(_: Request) -> Response:
    return Response(BODY, media_type="application/json")


app = Starlette(routes=[Route("/{path:path}", same_bytes)])
