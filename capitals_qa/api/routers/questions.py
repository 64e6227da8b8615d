"""Asking: `POST /` (plain text in, best answer's text out) and `POST /query` (Haystack's REST shape)."""
from typing import Any, Dict

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import PlainTextResponse

from capitals_qa.api.answering import answer, answered_or_not, best_answer_text, cache_header
from capitals_qa.api.backend import Served
from capitals_qa.api.body import parse_query_request, parse_question, read_limited
from capitals_qa.api.dependencies import served
from capitals_qa.api.errors import ERROR_RESPONSES
from capitals_qa.api.metrics import question_outcome
from capitals_qa.api.params import check_params
from capitals_qa.api.schemas import QueryRequest, QueryResponse

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
        result, cached = await answer(service, request, parse_question(body), None, False)
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
        result, cached = await answer(service, request, query_request.query, query_request.params, debug)
        outcome.append(answered_or_not(service, result))
        response.headers.update(cache_header(cached))
        return result
