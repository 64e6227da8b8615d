"""Turning Haystack's pipeline output into JSON, losslessly, in the shapes of its `to_dict()` methods."""
from typing import Any, Dict, List

import numpy as np
from haystack.schema import Answer, Document, Span

# Embeddings are large and of no use to an HTTP client; ids hashes are an indexing detail.
_DOCUMENT_FIELDS_LEFT_OUT = ("embedding", "id_hash_keys")


def document_to_dict(document: Document) -> Dict[str, Any]:
    data = document.to_dict()
    for field in _DOCUMENT_FIELDS_LEFT_OUT:
        data.pop(field, None)
    return jsonable(data)


def answer_to_dict(answer: Answer) -> Dict[str, Any]:
    return jsonable(answer.to_dict())


def query_response(result: Dict[str, Any], debug: bool) -> Dict[str, Any]:
    """The `/query` body for one `pipeline.run` result."""
    response = {
        "query": result.get("query"),
        "answers": [answer_to_dict(a) for a in result.get("answers", [])],
        "documents": [document_to_dict(d) for d in result.get("documents", [])],
    }
    if debug and "_debug" in result:
        response["_debug"] = jsonable(result["_debug"])
    return response


def best_answer_text(result: Dict[str, Any]) -> str:
    """The top answer's text; Haystack sorts answers by score, and a no-answer is the empty string."""
    answers: List[Answer] = result.get("answers") or []
    return answers[0].answer if answers else ""


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
