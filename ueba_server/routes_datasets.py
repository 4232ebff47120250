"""Datasets, training and connection counts: endpoints 1-7 of the contract."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Header, Path, Query, Response
from fastapi.concurrency import run_in_threadpool

from ueba_api.limits import DEFAULT_HISTOGRAM_BINS, MAX_HISTOGRAM_BINS
from ueba_api.models import Dataset, DatasetList
from ueba_server.access import Manager, Viewer
from ueba_server.connections import Window
from ueba_server.openapi import (
    CONDITIONAL_RESPONSES,
    EMPTY_OK,
    ERROR_RESPONSES,
    TRAINING_CAP_RESPONSES,
    UEBA_PREFIX,
)
from ueba_server.preconditions import Precondition, etag, last_modified
from ueba_server.schemas import ConnectionCount, CreatedId, DatasetRequest, TimeRangeRequest
from ueba_server.wire import json_response

router = APIRouter(prefix=UEBA_PREFIX, tags=["datasets"], responses=ERROR_RESPONSES)

Logs = Annotated[bool, Query(description="Include each result's training log")]
BinCount = Annotated[
    int, Query(ge=1, le=MAX_HISTOGRAM_BINS, description="Bins of the validation loss histograms")
]
DatasetId = Annotated[uuid.UUID, Path(description="The dataset's id (a UUID)")]


async def _precondition(
    if_match: Annotated[
        str | None, Header(description="Extension: the ETag of GET /datasets/{id}; 412 if it changed since")
    ] = None,
    if_unmodified_since: Annotated[
        str | None, Header(description="Extension: the Last-Modified of GET /datasets/{id}; 412 if newer")
    ] = None,
) -> Precondition:
    return Precondition(if_match, if_unmodified_since)


Conditional = Annotated[Precondition, Depends(_precondition)]


# The store's dicts are the contract's shapes already (tests/server/test_wire.py checks them against the
# models): they are serialised once, with no second validation through the response model, which stays
# declared for the OpenAPI description.
@router.get("/datasets", response_model=DatasetList, summary="List datasets with their training history")
def list_datasets(
    viewer: Viewer, logs: Logs = False, bin_count: BinCount = DEFAULT_HISTOGRAM_BINS
) -> Response:
    items = viewer.state.datasets.list(logs=logs, bin_count=bin_count)
    return json_response({"count": len(items), "items": items})


@router.post(
    "/datasets", status_code=201, response_model=CreatedId, summary="Create a dataset (does not train)"
)
def create_dataset(manager: Manager, dataset: DatasetRequest) -> CreatedId:
    return CreatedId(id=manager.state.datasets.create(dataset, manager.caller.name))


# Reads of one dataset or setting are async: a small read transaction on the loop thread's own
# connection costs less than the hop to the thread pool. Listings (re-binning) and writes (which may
# wait for SQLite's write lock) stay on the pool.
@router.get(
    "/datasets/{dataset_id}",
    response_model=Dataset,
    summary="Get a dataset (ETag and Last-Modified of its definition: see If-Match on PUT and DELETE)",
)
async def get_dataset(
    viewer: Viewer,
    dataset_id: DatasetId,
    logs: Logs = False,
    bin_count: BinCount = DEFAULT_HISTOGRAM_BINS,
) -> Response:
    dataset = viewer.state.datasets.get(str(dataset_id), logs=logs, bin_count=bin_count)
    updated = dataset["updated"]
    return json_response(dataset, headers={"ETag": etag(updated), "Last-Modified": last_modified(updated)})


@router.put(
    "/datasets/{dataset_id}",
    response_class=Response,
    responses=EMPTY_OK | CONDITIONAL_RESPONSES,
    summary="Update a dataset: empties its training history and deletes its weights",
)
def update_dataset(
    manager: Manager,
    dataset_id: DatasetId,
    dataset: DatasetRequest,
    precondition: Conditional,
) -> Response:
    manager.state.service.update(str(dataset_id), dataset, manager.caller.name, precondition)
    return Response(status_code=200)


@router.delete(
    "/datasets/{dataset_id}",
    response_class=Response,
    responses=EMPTY_OK | CONDITIONAL_RESPONSES,
    summary="Delete a dataset",
)
def delete_dataset(
    manager: Manager, dataset_id: DatasetId, precondition: Conditional
) -> Response:
    manager.state.service.delete(str(dataset_id), precondition)
    return Response(status_code=200)


@router.post(
    "/train/{dataset_id}",
    response_model=ConnectionCount,
    responses=TRAINING_CAP_RESPONSES,
    summary="Train (or retrain) a dataset in the background",
)
def train_dataset(
    manager: Manager,
    dataset_id: DatasetId,
    set_active_after_training: Annotated[
        bool, Query(description="Make the dataset the active one once the training succeeds")
    ] = False,
) -> ConnectionCount:
    return ConnectionCount(count=manager.state.service.train(str(dataset_id), set_active_after_training))


@router.post(
    "/query-connection-count",
    response_model=ConnectionCount,
    summary="Count the connections of a time range; an empty body or {} counts all",
)
async def query_connection_count(
    viewer: Viewer, time_range: Annotated[TimeRangeRequest | None, Body()] = None
) -> ConnectionCount:
    counter, window = viewer.state.counter, Window.from_request(time_range)
    # On the event loop while the start times held are current (tens of microseconds for 10M rows); a
    # reload after an import (seconds at that size) goes to the thread pool.
    count = counter.count_if_current(window)
    if count is None:
        count = await run_in_threadpool(counter.count, window)
    return ConnectionCount(count=count)
