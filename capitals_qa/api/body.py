"""Reading what a client sent within its size limit: plain-text questions and /query JSON bodies.

Every problem becomes a `RequestError` with the HTTP status and the messages the client gets back.
"""
import json
import re
from typing import Any, AsyncIterator, Dict, Iterable, List, Optional

from pydantic import ValidationError

from capitals_qa.api.errors import RequestError
from capitals_qa.api.schemas import MAX_JSON_DEPTH, QueryRequest

_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_JSON_BRACKETS = re.compile(r"[\[\]{}]")
# Letters, digits or underscore in any script: a question without one (only punctuation or control characters)
# tokenizes to nothing, on which the Reader fails.
_WORD = re.compile(r"\w")


async def read_limited(chunks: AsyncIterator[bytes], declared_length: Optional[str], limit: int) -> bytes:
    """The whole body, refusing it as soon as it is known to be larger than `limit` bytes."""
    too_large = RequestError(413, f"request body is larger than the limit of {limit} bytes")
    if declared_length is not None and declared_length.isdigit() and int(declared_length) > limit:
        raise too_large
    body = bytearray()
    async for chunk in chunks:
        body += chunk
        if len(body) > limit:
            raise too_large
    return bytes(body)


def decode_utf8(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise RequestError(400, f"request body is not valid UTF-8 (byte {error.start})") from None


def parse_question(body: bytes) -> str:
    """A plain-text question: the body decoded as UTF-8, surrounding white space removed."""
    question = decode_utf8(body).strip()
    if not question:
        raise RequestError(400, "the question is empty: send it as the request body")
    if not _WORD.search(question):
        raise RequestError(400, "the question holds no letters or digits")
    return question


def parse_query_request(body: bytes) -> QueryRequest:
    """A Haystack REST `/query` body: {"query": str, "params": {...}, "debug": bool}."""
    text = decode_utf8(body)
    depth = json_depth(text)
    if depth > MAX_JSON_DEPTH:
        raise RequestError(400, f"request body nests {depth} levels deep; at most {MAX_JSON_DEPTH} are accepted")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise RequestError(400, f"request body is not valid JSON: {error}") from None
    if not isinstance(data, dict):
        raise RequestError(422, 'request body must be a JSON object such as {"query": "..."}')
    try:
        request = QueryRequest.parse_obj(data)
    except ValidationError as error:
        raise RequestError(422, *validation_messages(error.errors())) from None
    if not request.query.strip():
        raise RequestError(400, "query: the question is empty")
    if not _WORD.search(request.query):
        raise RequestError(400, "query: the question holds no letters or digits")
    return request


def json_depth(text: str) -> int:
    """How deep the arrays and objects of a JSON text nest (brackets inside strings do not count), without parsing it."""
    depth = deepest = 0
    for bracket in _JSON_BRACKETS.findall(_JSON_STRING.sub("", text)):
        depth += 1 if bracket in "[{" else -1
        deepest = max(deepest, depth)
    return deepest


def validation_messages(errors: Iterable[Dict[str, Any]]) -> List[str]:
    """Pydantic's errors as "field: message" lines; the field path says where in the body the problem is."""
    messages = []
    for error in errors:
        location = ".".join(str(part) for part in error["loc"] if part != "__root__")
        messages.append(f"{location}: {error['msg']}" if location else error["msg"])
    return messages
