"""The FastAPI application of the reference server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from ueba_server import routes_datasets, routes_settings, routes_status
from ueba_server.auth import install_auth
from ueba_server.body_limit import BodySizeLimit
from ueba_server.config import ServerConfig
from ueba_server.demo import create_demo_dataset
from ueba_server.errors import install_error_handlers
from ueba_server.routes_status import VERSION
from ueba_server.state import ServerState


def create_app(config: ServerConfig) -> FastAPI:
    """The app; its state (store, connection history, trainings) opens when it starts serving."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = ServerState.open(config)
        app.state.server = state
        if config.demo:
            create_demo_dataset(state.service, state.counter)
        # A training worker stands by for the next run (supervisor.py). Asked for from the loop, once this
        # start-up is over: its start (mostly an import of scikit-learn) never delays the server's own.
        asyncio.get_running_loop().call_soon(state.service.keep_standby_worker)
        try:
            yield
        finally:
            state.close()

    app = FastAPI(
        title="PrivX UEBA reference server",
        version=VERSION,
        description="Serves the UEBA API contract (datasets, training, anomaly settings) with real trainings "
        "on generated or imported connection history.",
        lifespan=lifespan,
        # Swagger UI and ReDoc pages load their scripts from a CDN: PrivX sites are often air-gapped, and no
        # page of ours fetches from the internet. /openapi.json stays.
        docs_url=None,
        redoc_url=None,
        # No OpenTelemetry is set up in this process; FastAPI would check for it on every request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    install_error_handlers(app)
    install_auth(app)
    for module in (routes_datasets, routes_settings, routes_status):
        app.include_router(module.router)
    app.add_middleware(BodySizeLimit, max_bytes=config.max_body_bytes)
    return app
