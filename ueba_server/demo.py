"""The demo dataset of `--demo`: on a first start, one dataset over the recent history, training."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from ueba_api.limits import MIN_TRAINING_CONNECTIONS
from ueba_api.models import format_utc
from ueba_server.connections import ConnectionCounter, Window
from ueba_server.dataset_service import DatasetService
from ueba_server.schemas import DatasetRequest, TimeRangeRequest

logger = logging.getLogger("ueba_server")

DEMO_CREATOR = "demo"
# The demo dataset covers the last 90 days (of the default six months): half the connections, so that a
# first start has a trained model to show within a minute, while still a quarter of a year of patterns.
DEMO_DAYS = 90


def create_demo_dataset(service: DatasetService, counter: ConnectionCounter) -> None:
    """On a first start (no dataset yet): one dataset over the last DEMO_DAYS whole days (UTC), training.

    A history too small for that to make a training gets a dataset over all of it instead.
    """
    if service.store.exists():
        return
    span = counter.time_span()
    if span is None:
        return
    first, last = span
    end = last.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    start = end - timedelta(days=DEMO_DAYS)
    time_range = _time_range(start, end)
    comment = (
        f"Demo: the last {DEMO_DAYS} days of the connection history,"
        f" {start:%Y-%m-%d} to {end - timedelta(days=1):%Y-%m-%d} (UTC)"
    )
    count = counter.count(Window.from_request(time_range))
    if first >= time_range.start or count < MIN_TRAINING_CONNECTIONS:
        time_range = _time_range(first, last + timedelta(seconds=1))
        comment = "Demo: the whole connection history"
    request = DatasetRequest(
        time_range_settings=time_range, comment=comment, use_for_inference_once_trained=True
    )
    dataset_id = service.store.create(request, DEMO_CREATOR)
    service.train(dataset_id, set_active=False)
    logger.info("Demo dataset %s created; its training is running", dataset_id)


def _time_range(start: datetime, end: datetime) -> TimeRangeRequest:
    # Requests take RFC 3339 strings only (see schemas.py), as they come over the wire.
    return TimeRangeRequest.model_validate({"start": format_utc(start), "end": format_utc(end)})
