"""What the routes need from whatever runs the pipeline, in plain data (JSON types): the pipeline in this
process (serving/replica/local_pipeline.py) or Serve deployments reached through handles (serving/ingress/)."""
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Set, Tuple

from capitals_qa.api.access import Access
from capitals_qa.api.answer_cache import AnswerCache
from capitals_qa.api.metrics import QAMetrics
from capitals_qa.settings import DEFAULT_MAX_TOP_K

# Haystack's `Document.to_dict()` and `Label.to_dict()` shapes, as JSON.
DocumentData = Dict[str, Any]
LabelData = Dict[str, Any]


@dataclass(frozen=True)
class ParamsRules:
    """Each node's accepted `run` parameters, and parameters the pipeline accepts but would ignore (-> why)."""

    node_parameters: Mapping[str, Set[str]]
    ignored: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class BodyLimits:
    """What one request may cost: body sizes, and `top_k` of any node."""

    max_question_bytes: int
    max_query_bytes: int
    max_upload_bytes: int = 10 * 1024 * 1024
    max_top_k: int = DEFAULT_MAX_TOP_K


class Store:
    """The served document store. A backend without one answers 501 (NotImplementedError)."""

    async def upload(self, files: List[Tuple[str, bytes]], meta: Dict[str, Any], params: Dict[str, Any]) -> Dict[str, Any]:
        """Index (name, content) files through the indexing pipeline: {"files": [{"name", "documents" | "error"}]}."""
        raise NotImplementedError("uploads")

    async def documents(self, filters: Optional[Dict[str, Any]]) -> List[DocumentData]:
        raise NotImplementedError("reading documents")

    async def delete_documents(self, filters: Optional[Dict[str, Any]]) -> int:
        """Delete the documents whose meta matches (all for none); returns how many matched."""
        raise NotImplementedError("deleting documents")

    async def write_label(self, label: LabelData) -> None:
        """Store a user's judgement of an answer (the fields of `/feedback`'s body)."""
        raise NotImplementedError("feedback")

    async def labels(self, filters: Optional[Dict[str, Any]] = None) -> List[LabelData]:
        raise NotImplementedError("feedback")

    async def delete_labels(self, ids: List[str]) -> None:
        raise NotImplementedError("feedback")


class Backend(Store, ABC):
    @abstractmethod
    async def run(self, query: str, params: Optional[Dict[str, Any]], debug: bool) -> Dict[str, Any]:
        """`Pipeline.run(query=..., params=..., debug=...)` as `/query`'s body: {"query", "answers", "documents"}
        in Haystack's `to_dict()` shapes, `_debug` when asked, and the store's version it was computed at when known
        (`_store_version`, which the API takes out).

        May raise Overloaded instead of queueing a question that would wait too long. Cancelling the call (the
        client went away, or the time limit passed) takes a question that has not started out of the queue."""

    async def retrieve(self, query: str, params: Optional[Dict[str, Any]]) -> Dict[str, Any]:
        """The query pipeline without its readers: {"query", "answers": [], "documents"}; `params` as for `run`,
        those of a reader left out."""
        raise NotImplementedError("retrieval alone")

    @abstractmethod
    async def params_rules(self) -> ParamsRules:
        """How to check a request's params (see api/params.py)."""

    async def problems(self) -> List[str]:
        """Why the backend cannot answer now (store unreachable, a node down); empty when it can. /health's 503."""
        return []

    @abstractmethod
    async def describe(self) -> Dict[str, Any]:
        """/health's fields but `ready` and `versions`: mode, pipeline, pipeline_yaml, nodes, document_count, ..."""

    async def store_version(self) -> Optional[int]:
        """The shared write log's last entry now, where the store follows one (None elsewhere): an answer carries the
        entry its replica had applied (api/answer_cache.py's STORE_VERSION), and is kept for as long as they match."""
        return None


@dataclass(frozen=True)
class Served:
    """What the routes serve: a backend, the body limits, who may call (API key, CORS), where to meter, how long
    a question may take (None: no limit), and the answer cache (off by default here)."""

    backend: Backend
    limits: BodyLimits
    access: Access = Access()
    metrics: QAMetrics = QAMetrics()
    question_timeout_s: Optional[float] = None
    cache: AnswerCache = field(default_factory=lambda: AnswerCache(0, 0, 0))  # off


# The routes ask for it per request: a Serve replica hands over the one it built (serving/ingress/), a test its own.
ServedProvider = Callable[[], Served]
