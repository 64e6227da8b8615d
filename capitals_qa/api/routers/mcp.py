"""The Model Context Protocol at `/mcp`: agents discover and call the service as tools (JSON-RPC 2.0 over MCP's
Streamable HTTP transport, each request answered with one JSON response).

Written here rather than with the official Python SDK, which needs pydantic 2 and cannot sit beside Haystack 1.x.
Two tools, with the bounds of `/query`: `answer_question` (the pipeline's answers, each with its context, score and
source document) and `search_documents` (retrieval alone, filters included). The API key guards `/mcp` as every
other route. Protocol errors are JSON-RPC errors with the spec's codes; a tool that fails for the service's state
(overloaded, a store down, a time limit) answers a result marked `isError`, as MCP asks of tool errors.
"""
import asyncio
import copy
import json
from typing import Any, Callable, Dict, Optional

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from opentelemetry.trace import SpanKind
from pydantic import ValidationError

from capitals_qa import tracing
from capitals_qa.api.answering import answer, answered_or_not
from capitals_qa.api.backend import Served
from capitals_qa.api.body import MAX_JSON_DEPTH, decode_utf8, json_depth, read_limited, validation_messages
from capitals_qa.api.dependencies import request_id, served
from capitals_qa.api.errors import ERROR_RESPONSES, Overloaded, RequestError, Unavailable, root_cause
from capitals_qa.api.metrics import question_outcome
from capitals_qa.api.params import check_params
from capitals_qa.api.schemas import QueryRequest

router = APIRouter(tags=["mcp"])

# The newest first: a client asking for another one gets the newest (the spec's negotiation).
PROTOCOL_VERSIONS = ("2025-06-18", "2025-03-26", "2024-11-05")
SERVER_INFO = {"name": "capitals-qa", "version": "1.0.0"}
# JSON-RPC 2.0's error codes.
PARSE_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND, INVALID_PARAMS = -32700, -32600, -32601, -32602


class RpcError(Exception):
    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code


def tool_input_schema() -> Dict[str, Any]:
    """`/query`'s request body without `debug`: the same fields, types and rules."""
    # A copy: pydantic caches the schema it returns, and /query's own description is that same dict.
    schema = copy.deepcopy(QueryRequest.schema())
    schema["properties"].pop("debug", None)
    schema.pop("title", None)
    return schema


TOOLS = [
    {
        "name": "answer_question",
        "title": "Answer a question",
        "description": "Answer a question from the served documents (extractive question answering). Returns the answers, "
                       "best first, each with its score, the passage it was read from and that passage's document name.",
        "inputSchema": tool_input_schema(),
    },
    {
        "name": "search_documents",
        "title": "Search the documents",
        "description": "Find the passages of the served documents that best match a query, without reading answers from "
                       "them. `params` takes `top_k` (how many passages, at most) and Haystack's `filters` on document metadata, e.g. {\"filters\": {\"name\": [\"Italy\"]}}.",
        "inputSchema": tool_input_schema(),
    },
]


@router.post("/mcp", summary="Model Context Protocol (JSON-RPC 2.0 over Streamable HTTP): the tools answer_question and search_documents",
             openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": {
                 "type": "object", "required": ["jsonrpc", "method"], "properties": {
                     "jsonrpc": {"type": "string", "enum": ["2.0"]}, "id": {"type": ["string", "integer"]},
                     "method": {"type": "string"}, "params": {"type": "object"}}}}}},
                 "responses": {
                     "200": {"description": "A JSON-RPC response: its `result`, or its `error` (unknown method, bad params)"},
                     "202": {"description": "A notification (no `id`) was accepted; nothing to answer"},
                     "400": {"description": "Not a JSON-RPC 2.0 request: a JSON-RPC error with id null",
                             "content": {"application/json": {"schema": {"type": "object"}}}}}},
             responses={status: described for status, described in ERROR_RESPONSES.items() if status != 400})
async def mcp(request: Request, service: Served = Depends(served)) -> Response:
    body = await read_limited(request.stream(), request.headers.get("content-length"), service.limits.max_query_bytes)
    try:
        message = parse_message(body)
    except RpcError as error:
        return rpc_error(None, error, status=400)
    if "id" not in message:  # a notification (notifications/initialized, cancellations): nothing to answer
        return Response(status_code=202)
    try:
        result = await METHODS.get(message["method"], unknown_method)(message.get("params") or {}, request, service)
    except RpcError as error:
        return rpc_error(message["id"], error)
    return JSONResponse({"jsonrpc": "2.0", "id": message["id"], "result": result})


@router.get("/mcp", include_in_schema=False)
async def no_stream() -> Response:
    """The transport's optional server-to-client stream: this server sends nothing unasked."""
    return JSONResponse({"errors": ["this MCP server offers no event stream: POST JSON-RPC messages to /mcp"]}, status_code=405,
                        headers={"Allow": "POST"})


def parse_message(body: bytes) -> Dict[str, Any]:
    try:
        text = decode_utf8(body)
    except RequestError as error:
        raise RpcError(PARSE_ERROR, error.messages[0]) from None
    if json_depth(text) > MAX_JSON_DEPTH:
        raise RpcError(INVALID_REQUEST, f"the message nests more than {MAX_JSON_DEPTH} levels")
    try:
        message = json.loads(text)
    except json.JSONDecodeError as error:
        raise RpcError(PARSE_ERROR, f"not valid JSON: {error}") from None
    if isinstance(message, list):
        raise RpcError(INVALID_REQUEST, "batches are not accepted: send one JSON-RPC message per request")
    if (not isinstance(message, dict) or message.get("jsonrpc") != "2.0" or not isinstance(message.get("method"), str)
            or not isinstance(message.get("params", {}), dict)
            or ("id" in message and (isinstance(message["id"], bool) or not isinstance(message["id"], (str, int))))):
        raise RpcError(INVALID_REQUEST, 'a JSON-RPC 2.0 request is {"jsonrpc": "2.0", "id": <string or number>, "method": <string>, "params": <object>}')
    return message


def rpc_error(message_id: Any, error: RpcError, status: int = 200) -> JSONResponse:
    return JSONResponse({"jsonrpc": "2.0", "id": message_id, "error": {"code": error.code, "message": str(error)}}, status_code=status)


async def initialize(params: Dict[str, Any], request: Request, service: Served) -> Dict[str, Any]:
    asked = params.get("protocolVersion")
    return {
        "protocolVersion": asked if asked in PROTOCOL_VERSIONS else PROTOCOL_VERSIONS[0],
        "capabilities": {"tools": {"listChanged": False}},
        "serverInfo": SERVER_INFO,
        "instructions": "Extractive question answering over the served documents: answer_question reads answers, search_documents finds passages.",
    }


async def ping(params: Dict[str, Any], request: Request, service: Served) -> Dict[str, Any]:
    return {}


async def list_tools(params: Dict[str, Any], request: Request, service: Served) -> Dict[str, Any]:
    return {"tools": TOOLS}


async def call_tool(params: Dict[str, Any], request: Request, service: Served) -> Dict[str, Any]:
    name, arguments = params.get("name"), params.get("arguments") or {}
    if name not in TOOL_RUNS:
        raise RpcError(INVALID_PARAMS, f"no tool {name!r}; the tools are {sorted(TOOL_RUNS)}")
    if not isinstance(arguments, dict):
        raise RpcError(INVALID_PARAMS, "arguments must be an object")
    try:
        asked = QueryRequest.parse_obj(arguments)
    except ValidationError as error:
        raise RpcError(INVALID_PARAMS, "; ".join(validation_messages(error.errors()))) from None
    try:
        if not asked.query.strip():
            raise RequestError(400, "query: the question is empty")
        check_params(asked.params, await service.backend.params_rules(), service.limits.max_top_k)
        structured = await TOOL_RUNS[name](service, request, asked.query, asked.params)
    except (Overloaded, Unavailable) as refusal:  # the service's state: the agent may try again later
        return {"content": [{"type": "text", "text": str(refusal)}], "isError": True}
    except RequestError as error:
        if error.status >= 500:
            return {"content": [{"type": "text", "text": "; ".join(error.messages)}], "isError": True}
        raise RpcError(INVALID_PARAMS, "; ".join(error.messages)) from None
    except NotImplementedError as error:
        raise RpcError(METHOD_NOT_FOUND, f"{error} is not available in this deployment") from None
    except (ValueError, TypeError) as error:
        raise RpcError(INVALID_PARAMS, f"params: {root_cause(error)}") from None
    return {"content": [{"type": "text", "text": json.dumps(structured, ensure_ascii=False)}], "structuredContent": structured, "isError": False}


async def answer_question(service: Served, request: Request, query: str, params: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    with question_outcome(service.metrics) as outcome:
        result, _ = await answer(service, request, query, params, False)
        outcome.append(answered_or_not(service, result))
    documents = {document["id"]: document for document in result.get("documents", [])}
    return {"answers": [
        {"answer": found["answer"], "score": found.get("score"), "context": found.get("context"),
         "document": document_name(documents, found)}
        for found in result.get("answers", []) if found.get("answer")
    ]}


async def search_documents(service: Served, request: Request, query: str, params: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    # Traced as a question is (api/answering.py), within the same time limit; never cached, it is cheap.
    with tracing.span(f"{request.method} {request.url.path}", given=request.headers, kind=SpanKind.SERVER,
                      **{tracing.REQUEST_ID: request_id(request)}):
        try:
            result = await asyncio.wait_for(service.backend.retrieve(query, params), service.question_timeout_s)
        except asyncio.TimeoutError:
            raise RequestError(504, f"the search took longer than the limit of {service.question_timeout_s} s (QUESTION_TIMEOUT_S)") from None
        except Exception as error:
            cause = root_cause(error)
            if isinstance(cause, (ValueError, TypeError)) and params:  # a filter the store cannot apply, say
                raise RequestError(400, f"params: {cause}") from error
            raise
    documents = result.get("documents", [])
    # `top_k` is how many passages the tool answers: in a graph that joins retrievers, each gives its top_k to the
    # join, which may hand on more.
    wanted = (params or {}).get("top_k")
    return {"documents": [
        {"content": document.get("content"), "name": (document.get("meta") or {}).get("name"), "score": document.get("score"),
         "id": document.get("id")}
        for document in (documents[:wanted] if wanted else documents)
    ]}


def document_name(documents: Dict[str, Dict[str, Any]], found: Dict[str, Any]) -> Optional[str]:
    """The name of the document an answer was read from: its passage's meta.name, else the answer's own."""
    for document_id in found.get("document_ids") or []:
        if document_id in documents:
            return (documents[document_id].get("meta") or {}).get("name")
    return (found.get("meta") or {}).get("name")


async def unknown_method(params: Dict[str, Any], request: Request, service: Served) -> Dict[str, Any]:
    raise RpcError(METHOD_NOT_FOUND, "no such method; this server has initialize, ping, tools/list and tools/call")


METHODS: Dict[str, Callable] = {"initialize": initialize, "ping": ping, "tools/list": list_tools, "tools/call": call_tool}
TOOL_RUNS: Dict[str, Callable] = {"answer_question": answer_question, "search_documents": search_documents}
