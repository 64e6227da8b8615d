"""A Backend for the API's unit tests: fixed answers as a replica sends them, and a record of what it was asked."""
from typing import Any, Dict, List, Optional

from haystack.schema import Answer, Document, Span

from capitals_qa.api.backend import Backend, ParamsRules
from capitals_qa.pipeline.results import query_response

ROME = Document(content="Rome is the capital of Italy.", meta={"name": "Italy"}, id="doc-italy", score=0.9)
ANSWER = Answer(
    answer="Rome", type="extractive", score=0.8, context="Rome is the capital of Italy.",
    offsets_in_document=[Span(0, 4)], offsets_in_context=[Span(0, 4)], document_ids=["doc-italy"], meta={"name": "Italy"},
)


class FakeBackend(Backend):
    """Answers every question with ANSWER from ROME, as a replica sends it (plain data); records what the routes
    passed on."""

    def __init__(self, answers: Optional[List[Answer]] = None, error: Optional[Exception] = None):
        self.answers = [ANSWER] if answers is None else answers
        self.error = error
        self.calls: List[tuple] = []

    async def run(self, query: str, params: Optional[Dict[str, Any]], debug: bool) -> Dict[str, Any]:
        self.calls.append((query, params, debug))
        if self.error:
            raise self.error
        result = {"query": query, "answers": self.answers, "documents": [ROME]}
        if debug:
            result["_debug"] = {"Retriever": {"output": {"documents": [ROME]}, "exec_time_ms": 1.5}}
        return query_response(result, debug)

    async def params_rules(self) -> ParamsRules:
        return ParamsRules({"Retriever": {"query", "filters", "top_k", "index"}, "Reader": {"query", "documents", "top_k"}},
                           {"filters": "this store ignores filters"})

    async def describe(self) -> Dict[str, Any]:
        return {"mode": "single", "pipeline": "query", "pipeline_yaml": "/p/pipeline.yml", "nodes": ["Retriever", "Reader"], "document_count": 1}
