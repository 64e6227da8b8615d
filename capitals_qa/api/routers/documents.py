"""Haystack REST's documents endpoints: read and delete the served store's documents by metadata filters."""
import logging
from typing import Any, Dict, List

from fastapi import APIRouter, Depends, Request, Response

from capitals_qa.api.backend import Served
from capitals_qa.api.dependencies import request_id, served
from capitals_qa.api.errors import ERROR_RESPONSES
from capitals_qa.api.schemas import DocumentModel, FilterRequest
from capitals_qa.api.store_calls import store_call

# Serve writes this logger to each replica's log (by name only: this layer imports no Ray).
logger = logging.getLogger("ray.serve")
router = APIRouter(tags=["documents"])
# How many documents a delete removed: the body stays Haystack REST's `true`.
DELETED = "X-Documents-Deleted"


@router.post(
    "/documents/get_by_filters",
    summary="The documents whose meta matches the filters (all of them for {})",
    response_model=List[DocumentModel],
    response_model_exclude_none=True,
    responses=ERROR_RESPONSES,
)
async def get_documents(request: FilterRequest, service: Served = Depends(served)) -> List[Dict[str, Any]]:
    return await store_call(service.backend.documents(request.filters))


@router.post(
    "/documents/delete_by_filters",
    summary="Delete the documents whose meta matches the filters (all of them for {})",
    description=f"Answers `true`, as Haystack's REST API does; the `{DELETED}` header says how many documents were deleted.",
    response_model=bool,
    responses=ERROR_RESPONSES,
)
async def delete_documents(http_request: Request, response: Response, request: FilterRequest, service: Served = Depends(served)) -> bool:
    try:
        deleted = await store_call(service.backend.delete_documents(request.filters))
    finally:
        service.cache.wrote()  # whether or not it went through, answers computed before may be stale now
    response.headers[DELETED] = str(deleted)
    if not request.filters:
        logger.warning("request_id=%s deleted every document of the store (%d)", request_id(http_request), deleted)
    return True
