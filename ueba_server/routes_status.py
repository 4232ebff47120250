"""Service status (public, like PrivX microservices) and the internal status: endpoints 16-17."""

from __future__ import annotations

from fastapi import APIRouter

from ueba_api.models import InternalStatus, ServiceStatus, format_utc
from ueba_server.access import Viewer
from ueba_server.config import FEATURE_CONFIG_NAME
from ueba_server.connections import Window
from ueba_server.openapi import ERROR_RESPONSES, UEBA_PREFIX
from ueba_server.state import State

router = APIRouter(prefix=UEBA_PREFIX, tags=["status"], responses=ERROR_RESPONSES)

VERSION = "0.1.0"


@router.get("/status", response_model=ServiceStatus, summary="Service status (no token needed)")
def get_status(state: State) -> dict:
    span = state.counter.time_span()
    details = [
        {"k": "connections", "v": state.counter.count(Window())},
        {"k": "connections_first", "v": None if span is None else format_utc(span[0])},
        {"k": "connections_last", "v": None if span is None else format_utc(span[1])},
        {"k": "feature_config_name", "v": FEATURE_CONFIG_NAME},
        {"k": "epochs", "v": state.config.epochs},
    ]
    return {
        "version": VERSION,
        "api_version": "v1",
        "status": "RUNNING",
        "status_message": "UEBA reference server",
        "app_id": "ueba-reference-server",
        "start_time": state.started,
        "issues": [],
        "status_details": details,
    }


@router.get("/status/internal", response_model=InternalStatus, summary="Training and inference state")
async def get_internal_status(viewer: Viewer) -> dict:
    active = viewer.state.datasets.active_dataset_id()
    return {
        "training_status": "TRAINING" if viewer.state.service.is_training() else "IDLE",
        "inference_status": "RUNNING" if active else "STOPPED",
        "dataset_id": active,
        "instances": viewer.state.datasets.latest_results(),
    }
