"""Haystack's objects as plain data (JSON types) in the shapes of their `to_dict()` methods: what a replica sends
the API, which never handles Haystack's classes."""
from typing import Any, Dict

import numpy as np
from haystack.schema import Answer, Document, Label, Span

# Embeddings are large and of no use to an HTTP client; ids hashes are an indexing detail.
_DOCUMENT_FIELDS_LEFT_OUT = ("embedding", "id_hash_keys")


def document_to_dict(document: Document) -> Dict[str, Any]:
    data = document.to_dict()
    for field in _DOCUMENT_FIELDS_LEFT_OUT:
        data.pop(field, None)
    return jsonable(data)


def answer_to_dict(answer: Answer) -> Dict[str, Any]:
    return jsonable(answer.to_dict())


def label_to_dict(label: Label) -> Dict[str, Any]:
    return jsonable(label.to_dict())


def query_response(result: Dict[str, Any], debug: bool) -> Dict[str, Any]:
    """The `/query` body for one `Pipeline.run` result."""
    response = {
        "query": result.get("query"),
        "answers": [answer_to_dict(a) for a in result.get("answers", [])],
        "documents": [document_to_dict(d) for d in result.get("documents", [])],
    }
    if debug and "_debug" in result:
        response["_debug"] = jsonable(result["_debug"])
    return response


def label_from_request(data: Dict[str, Any]) -> Label:
    """A Haystack Label from `/feedback`'s body (Haystack REST's `CreateLabelSerialized` fields)."""
    data = dict(data)
    document = Document.from_dict({key: value for key, value in data.pop("document").items() if value is not None})
    answer = data.pop("answer", None)
    data.pop("no_answer", None)  # Haystack's Label derives it from the answer
    return Label(document=document, answer=Answer.from_dict(answer) if answer else None, **data)


def jsonable(value: Any) -> Any:
    """Plain JSON types for anything a pipeline may put in its output or debug info."""
    if isinstance(value, Document):
        return document_to_dict(value)
    if isinstance(value, Answer):
        return answer_to_dict(value)
    if isinstance(value, Span):
        return {"start": value.start, "end": value.end}
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)
