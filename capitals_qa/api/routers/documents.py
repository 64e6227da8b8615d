"""Haystack REST's documents endpoints: read and delete the served store's documents by metadata filters."""
from typing import Any, Dict, List

from fastapi import APIRouter, Depends

from capitals_qa.api.backend import Served
from capitals_qa.api.dependencies import served
from capitals_qa.api.errors import ERROR_RESPONSES
from capitals_qa.api.schemas import DocumentModel, FilterRequest
from capitals_qa.api.store_calls import store_call

router = APIRouter(tags=["documents"])


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
    response_model=bool,
    responses=ERROR_RESPONSES,
)
async def delete_documents(request: FilterRequest, service: Served = Depends(served)) -> bool:
    try:
        await store_call(service.backend.delete_documents(request.filters))
    finally:
        service.cache.wrote()  # whether or not it went through, answers computed before may be stale now
    return True
