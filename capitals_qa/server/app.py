"""The HTTP API: routes shared by every way of serving the pipeline, and the JSON error shape.

Routes are methods of `QARoutes`; a Serve ingress class inherits them and supplies `run_pipeline` and
`health_info`, so every serving mode answers the same API.
"""
import logging
import time
from typing import Any, Dict, Mapping, Optional, Set, Tuple

import haystack
import ray
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from ray import serve
from starlette.exceptions import HTTPException

from capitals_qa.results import best_answer_text, query_response
from capitals_qa.schema import ErrorResponse, HealthResponse, QueryRequest, QueryResponse, VersionResponse
from capitals_qa.server.requests import (
    RequestError,
    check_params,
    parse_query_request,
    parse_question,
    read_limited,
    validation_messages,
)
from capitals_qa.settings import ServiceSettings

logger = logging.getLogger("ray.serve")

api = FastAPI(
    title="Capitals QA",
    description="Extractive question answering over a Haystack 1.x pipeline, served by Ray Serve. "
    "`/query` is compatible with Haystack 1.x's REST API.",
    version="1.0.0",
)

_ERRORS = {status: {"model": ErrorResponse} for status in (400, 413, 422)}


def error_response(status: int, messages) -> JSONResponse:
    return JSONResponse({"errors": list(messages)}, status_code=status)


@api.exception_handler(RequestError)
async def _request_error(request: Request, error: RequestError) -> JSONResponse:
    return error_response(error.status, error.messages)


@api.exception_handler(HTTPException)
async def _http_error(request: Request, error: HTTPException) -> JSONResponse:
    # Unknown paths (404) and wrong methods (405) get the same JSON shape as every other error.
    response = error_response(error.status_code, [str(error.detail)])
    response.headers.update(error.headers or {})
    return response


@api.exception_handler(RequestValidationError)
async def _validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
    return error_response(422, validation_messages(error.errors()))


@api.exception_handler(Exception)
async def _internal_error(request: Request, error: Exception) -> JSONResponse:
    # Logged with its traceback by the server; the client gets the JSON shape and an id to quote.
    request_id = serve.context._get_serve_request_context().request_id
    return error_response(500, [f"internal error while answering (request id {request_id})"])


def root_cause(error: BaseException) -> BaseException:
    """The first error of a chain: Pipeline.run wraps a node's error in a plain Exception, Ray in RayTaskError."""
    while True:
        inner = getattr(error, "cause", None) or error.__cause__
        if inner is None or inner is error:
            return error
        error = inner


class QARoutes:
    """The API's routes. Subclasses set `settings` and implement the three hooks."""

    settings: ServiceSettings

    async def run_pipeline(self, query: str, params: Optional[Dict[str, Any]], debug: bool) -> Dict[str, Any]:
        """The raw result of `pipeline.run` for one question."""
        raise NotImplementedError

    async def params_rules(self) -> Tuple[Mapping[str, Set[str]], Mapping[str, str]]:
        """Each node's accepted parameters, and the parameters the pipeline would ignore (see check_params)."""
        raise NotImplementedError

    async def health_info(self) -> Dict[str, Any]:
        raise NotImplementedError

    @api.post(
        "/",
        summary="Ask a question in plain text; get the best answer's text",
        response_class=PlainTextResponse,
        responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}, **_ERRORS},
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"text/plain": {"schema": {"type": "string", "example": "What is the capital of Italy?"}}},
            }
        },
    )
    async def ask(self, request: Request) -> PlainTextResponse:
        body = await read_limited(request.stream(), request.headers.get("content-length"), self.settings.max_question_bytes)
        question = parse_question(body)
        result = await self._answer(question, None, False)
        return PlainTextResponse(best_answer_text(result))

    @api.post(
        "/query",
        summary="Ask a question as in Haystack's REST API",
        response_model=QueryResponse,
        responses=_ERRORS,
        openapi_extra={
            "requestBody": {"required": True, "content": {"application/json": {"schema": QueryRequest.schema()}}}
        },
    )
    async def query(self, request: Request) -> JSONResponse:
        body = await read_limited(request.stream(), request.headers.get("content-length"), self.settings.max_query_bytes)
        query_request = parse_query_request(body)
        check_params(query_request.params, *await self.params_rules())
        debug = bool(query_request.debug)
        result = await self._answer(query_request.query, query_request.params, debug)
        return JSONResponse(query_response(result, debug))

    @api.get("/health", summary="Readiness and what is served", response_model=HealthResponse)
    async def health(self) -> Dict[str, Any]:
        return {
            "ready": True,
            **await self.health_info(),
            "versions": {"haystack": haystack.__version__, "ray": ray.__version__},
        }

    @api.get("/initialized", summary="Haystack REST API: true once the pipeline is loaded", response_model=bool)
    async def initialized(self) -> bool:
        return True

    @api.get("/hs_version", summary="Haystack REST API: the Haystack version", response_model=VersionResponse)
    async def hs_version(self) -> Dict[str, str]:
        return {"hs_version": haystack.__version__}

    async def _answer(self, query: str, params: Optional[Dict[str, Any]], debug: bool) -> Dict[str, Any]:
        """Run one question and log one line for it: request id, latency, outcome."""
        request_id = serve.context._get_serve_request_context().request_id
        started = time.perf_counter()
        outcome = "error"
        try:
            result = await self.run_pipeline(query, params, debug)
            outcome = f"{len(result.get('answers') or [])} answers"
            return result
        except Exception as error:
            cause = root_cause(error)
            # Haystack raises these for parameter values it cannot use (a malformed filter, say).
            if not params or not isinstance(cause, (ValueError, TypeError)):
                raise
            outcome = f"rejected: {cause}"
            raise RequestError(400, f"params: {cause}") from error
        finally:
            latency_ms = (time.perf_counter() - started) * 1000
            logger.info("question request_id=%s latency_ms=%.1f outcome=%s", request_id, latency_ms, outcome)
