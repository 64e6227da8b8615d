"""The FastAPI app: its routers, and one JSON error shape, `{"errors": [...]}`, for every failure."""
from typing import Iterable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from capitals_qa.api.access import AccessControl
from capitals_qa.api.backend import ServedProvider
from capitals_qa.api.body import validation_messages
from capitals_qa.api.dependencies import request_id
from capitals_qa.api.errors import UNAVAILABLE_RETRY_AFTER_S, Overloaded, RequestError, Unavailable
from capitals_qa.api.routers import documents, feedback, file_upload, mcp, pages, questions, status


def create_api(served: ServedProvider) -> FastAPI:
    """The HTTP API over whatever `served()` returns when a request arrives (a backend and the body limits)."""
    api = FastAPI(
        title="Capitals QA",
        description="Extractive question answering over a Haystack 1.x pipeline, served by Ray Serve. "
        "`/query` is compatible with Haystack 1.x's REST API.",
        version="1.0.0",
        # /docs and /redoc are served by pages.router from local assets: FastAPI's own load them from a CDN.
        docs_url=None,
        redoc_url=None,
    )
    api.state.served = served
    for module in (questions, status, file_upload, documents, feedback, mcp, pages):
        api.include_router(module.router)
    pages.mount_assets(api)
    api.add_exception_handler(RequestError, _request_error)
    api.add_exception_handler(Overloaded, _overloaded)
    api.add_exception_handler(Unavailable, _unavailable)
    api.add_exception_handler(HTTPException, _http_error)
    api.add_exception_handler(RequestValidationError, _validation_error)
    api.add_exception_handler(Exception, _internal_error)
    api.add_middleware(AccessControl, access=lambda: served().access)
    return api


def error_response(status: int, messages: Iterable[str]) -> JSONResponse:
    return JSONResponse({"errors": list(messages)}, status_code=status)


async def _request_error(request: Request, error: RequestError) -> JSONResponse:
    return error_response(error.status, error.messages)


async def _overloaded(request: Request, error: Overloaded) -> JSONResponse:
    # Retry-After tells clients (and Haystack's UI) when to come back, instead of retrying at once.
    response = error_response(503, error.messages)
    response.headers["Retry-After"] = str(error.retry_after_s)
    return response


async def _unavailable(request: Request, error: Unavailable) -> JSONResponse:
    response = error_response(503, error.reasons)
    response.headers["Retry-After"] = str(UNAVAILABLE_RETRY_AFTER_S)
    return response


async def _http_error(request: Request, error: HTTPException) -> JSONResponse:
    # Unknown paths (404) and wrong methods (405) get the same JSON shape as every other error.
    response = error_response(error.status_code, [str(error.detail)])
    response.headers.update(error.headers or {})
    return response


async def _validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
    return error_response(422, validation_messages(error.errors()))


async def _internal_error(request: Request, error: Exception) -> JSONResponse:
    # The server logs the traceback (Starlette raises the error on after this answer); the client gets the
    # JSON shape and an id to quote.
    return error_response(500, [f"internal error while answering (request id {request_id(request)})"])
