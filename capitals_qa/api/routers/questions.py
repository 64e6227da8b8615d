"""Asking: `POST /` (plain text in, best answer's text out) and `POST /query` (Haystack's REST shape)."""
import asyncio
import logging
import time
from typing import Any, Dict, Optional, Tuple

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import PlainTextResponse

from capitals_qa.api.answer_cache import STORE_VERSION, question_key
from capitals_qa.api.backend import Served
from capitals_qa.api.body import parse_query_request, parse_question, read_limited
from capitals_qa.api.dependencies import request_id, served
from capitals_qa.api.errors import ERROR_RESPONSES, Overloaded, RequestError, root_cause
from capitals_qa.api.metrics import question_outcome
from capitals_qa.api.params import check_params
from capitals_qa.api.schemas import QueryRequest, QueryResponse

# Serve writes this logger to each replica's log (by name only: this layer imports no Ray).
logger = logging.getLogger("ray.serve")
router = APIRouter()

# A route whose answers are text/plain still sends its errors as JSON; FastAPI would file them under text/plain.
JSON_ERRORS = {status: {"description": "Error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}}}
               for status in ERROR_RESPONSES}


def request_body(media_type: str, schema: Dict[str, Any]) -> Dict[str, Any]:
    # Bodies are read by hand (size limit while streaming, our own 400s), so FastAPI cannot describe them.
    return {"requestBody": {"required": True, "content": {media_type: {"schema": schema}}}}


@router.post(
    "/",
    summary="Ask a question in plain text; get the best answer's text",
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}, **JSON_ERRORS},
    openapi_extra=request_body("text/plain", {"type": "string", "example": "What is the capital of Italy?"}),
)
async def ask(request: Request, service: Served = Depends(served)) -> PlainTextResponse:
    with question_outcome(service.metrics) as outcome:
        body = await read_limited(request.stream(), request.headers.get("content-length"), service.limits.max_question_bytes)
        result, cached = await answer(service, request_id(request), parse_question(body), None, False)
        outcome.append(answered_or_not(service, result))
        return PlainTextResponse(best_answer_text(result), headers=cache_header(cached))


@router.post(
    "/query",
    summary="Ask a question as in Haystack's REST API",
    response_model=QueryResponse,
    # Fields a result does not have (`_debug` unless asked for) stay out of the body.
    response_model_exclude_unset=True,
    responses=ERROR_RESPONSES,
    openapi_extra=request_body("application/json", QueryRequest.schema()),
)
async def query(request: Request, response: Response, service: Served = Depends(served)) -> Dict[str, Any]:
    with question_outcome(service.metrics) as outcome:
        body = await read_limited(request.stream(), request.headers.get("content-length"), service.limits.max_query_bytes)
        query_request = parse_query_request(body)
        check_params(query_request.params, await service.backend.params_rules(), service.limits.max_top_k)
        debug = bool(query_request.debug)
        result, cached = await answer(service, request_id(request), query_request.query, query_request.params, debug)
        outcome.append(answered_or_not(service, result))
        response.headers.update(cache_header(cached))
        return result


def best_answer_text(result: Dict[str, Any]) -> str:
    """The top answer's text; Haystack sorts answers by score, and a no-answer is the empty string."""
    answers = result.get("answers") or []
    return answers[0]["answer"] if answers else ""


def answered_or_not(service: Served, result: Dict[str, Any]) -> str:
    """Meters what the pipeline returned; "answered" when the best answer has text (Haystack's no-answer has none)."""
    answers = result.get("answers") or []
    service.metrics.retrieved(len(result.get("documents") or []))
    service.metrics.answered(len(answers))
    return "answered" if best_answer_text(result) else "no_answer"


def cache_header(cached: Optional[str]) -> Dict[str, str]:
    """`X-Cache: hit` for an answer the cache gave (kept, or computed once for concurrent askers), `miss` for one
    computed for this request; none where the cache is off or the request asked for debug output."""
    return {CACHE_HEADER: cached} if cached else {}


CACHE_HEADER = "X-Cache"


async def answer(service: Served, rid: str, query: str, params: Optional[Dict[str, Any]], debug: bool) -> Tuple[Dict[str, Any], Optional[str]]:
    """Run one question within the time limit, from the answer cache where it may be, and log one line for it:
    request id, latency, outcome, cache. Returns the answer and "hit" or "miss" (None: the cache was not asked).

    When the client goes away, Serve cancels this coroutine: a question still waiting for a worker leaves the
    queue then (outcome "cancelled"), so nobody's CPU goes to an answer nobody reads.
    """
    started = time.perf_counter()
    outcome, cached = "error", None
    try:
        if debug or not service.cache.enabled:  # debug output describes one run: never kept, never served again
            result = await asyncio.wait_for(service.backend.run(query, params, debug), service.question_timeout_s)
            result.pop(STORE_VERSION, None)
        else:
            compute = lambda: service.backend.run(query, params, False)  # noqa: E731
            result, how = await asyncio.wait_for(service.cache.answer(question_key(query, params), service.backend.store_version, compute),
                                                 service.question_timeout_s)
            cached = "miss" if how == "miss" else "hit"
        outcome = f"{len(result.get('answers') or [])} answers"
        return result, cached
    except asyncio.CancelledError:
        outcome = "cancelled"
        raise
    except asyncio.TimeoutError:
        outcome = "timed out"
        raise RequestError(504, f"the question took longer than the limit of {service.question_timeout_s} s (QUESTION_TIMEOUT_S)") from None
    except Overloaded:
        outcome = "overloaded"
        raise
    except Exception as error:
        cause = root_cause(error)
        # Haystack raises these for parameter values it cannot use (a malformed filter, say).
        if not params or not isinstance(cause, (ValueError, TypeError)):
            raise
        outcome = f"rejected: {cause}"
        raise RequestError(400, f"params: {cause}") from error
    finally:
        latency_ms = (time.perf_counter() - started) * 1000
        logger.info("question request_id=%s latency_ms=%.1f outcome=%s cache=%s", rid, latency_ms, outcome, cached or "off")
