"""Reading and checking what a client sent, before any pipeline work is done.

Every problem becomes a `RequestError` with the HTTP status and the messages the client gets back.
"""
import json
from typing import Any, AsyncIterator, Dict, Iterable, List, Mapping, Optional, Set

from pydantic import ValidationError

from capitals_qa.schema import QueryRequest

# Inputs of a pipeline run, not parameters: passing them through `params` would replace the question or the
# retrieved documents, which no client of a query endpoint should be able to do.
PIPELINE_INPUTS = {"root_node", "query", "queries", "documents", "file_paths", "labels", "meta"}
# Haystack takes `debug` for every node, globally or per node, though no node's `run` names it.
EVERY_NODE_ACCEPTS = {"debug"}


class RequestError(Exception):
    def __init__(self, status: int, *messages: str):
        super().__init__("; ".join(messages))
        self.status = status
        self.messages = list(messages)


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
    return question


def parse_query_request(body: bytes) -> QueryRequest:
    """A Haystack REST `/query` body: {"query": str, "params": {...}, "debug": bool}."""
    try:
        data = json.loads(decode_utf8(body))
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
    return request


def validation_messages(errors: Iterable[Dict[str, Any]]) -> List[str]:
    """Pydantic's errors as "field: message" lines; the field path says where in the body the problem is."""
    messages = []
    for error in errors:
        location = ".".join(str(part) for part in error["loc"] if part != "__root__")
        messages.append(f"{location}: {error['msg']}" if location else error["msg"])
    return messages


def check_params(
    params: Optional[Dict[str, Any]],
    node_parameters: Mapping[str, Set[str]],
    unsupported: Mapping[str, str] = {},
) -> None:
    """Refuse `params` that Haystack would reject, choke on or silently ignore.

    `node_parameters` maps each node of the pipeline to the parameters its `run` accepts; `unsupported` maps
    parameters the pipeline accepts but would ignore to the reason.
    """
    if not params:
        return
    for key, value in params.items():
        names = value if key in node_parameters and isinstance(value, dict) else {key: value}
        for name, given in names.items():
            if name in unsupported and given:
                raise RequestError(400, f"params: {name!r} is not supported by this pipeline: {unsupported[name]}")
    global_parameters = set().union(EVERY_NODE_ACCEPTS, *node_parameters.values()) - PIPELINE_INPUTS
    nodes = sorted(node_parameters)
    for key, value in params.items():
        if key in node_parameters:
            if not isinstance(value, dict):
                raise RequestError(400, f"params.{key} must be an object of {key}'s parameters, got {_json_type(value)}")
            accepted = (node_parameters[key] | EVERY_NODE_ACCEPTS) - PIPELINE_INPUTS
            for name, node_value in value.items():
                if name not in accepted:
                    raise RequestError(
                        400, f"params.{key}.{name}: {key} has no parameter {name!r}; it accepts {sorted(accepted)}"
                    )
                _check_value(f"params.{key}.{name}", name, node_value)
        elif key in global_parameters:
            _check_value(f"params.{key}", key, value)
        elif key in PIPELINE_INPUTS:
            raise RequestError(400, f"params.{key}: {key!r} is an input of the pipeline, not a parameter")
        else:
            raise RequestError(
                400,
                f"params.{key}: the pipeline has no node or parameter {key!r}; its nodes are {nodes}",
            )


def _check_value(path: str, name: str, value: Any) -> None:
    # The parameters clients use most, checked here so a wrong type is the client's 400, not a crash in a node.
    if name == "top_k" and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise RequestError(400, f"{path} must be a whole number of at least 1, got {json.dumps(value)}")
    if name == "filters" and value is not None and not isinstance(value, dict):
        raise RequestError(400, f"{path} must be an object, got {_json_type(value)}")
    if name in {"debug", "scale_score"} and not isinstance(value, bool):
        raise RequestError(400, f"{path} must be true or false, got {json.dumps(value)}")


def _json_type(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number"
    )
