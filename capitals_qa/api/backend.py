"""What the routes need from whatever runs the pipeline: one process, or a chain of Serve deployments."""
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Set, Tuple

from haystack.schema import Document, Label

from capitals_qa.api.access import Access
from capitals_qa.api.body import RequestError
from capitals_qa.api.metrics import QAMetrics
from capitals_qa.settings import DEFAULT_MAX_TOP_K


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


class Overloaded(RequestError):
    """The backend cannot take a question now (too many waiting, or it would wait too long): a 503 at once,
    metered as `overloaded`."""

    def __init__(self, reason: str, retry_after_s: int):
        super().__init__(503, reason)
        self.retry_after_s = max(1, retry_after_s)

    def __reduce__(self):
        # Crosses processes intact (raised in a Pipeline replica, answered by the ingress).
        return (Overloaded, (self.messages[0], self.retry_after_s))


class Unavailable(Exception):
    """The backend cannot answer at all now (its document store or a node is down): a 503 naming the reasons."""

    def __init__(self, *reasons: str):
        super().__init__("; ".join(reasons))
        self.reasons = list(reasons)

    def __reduce__(self):
        return (Unavailable, tuple(self.reasons))


class Backend(ABC):
    @abstractmethod
    async def run(self, query: str, params: Optional[Dict[str, Any]], debug: bool) -> Dict[str, Any]:
        """The result of `Pipeline.run(query=..., params=..., debug=...)`: Haystack's answers and documents.

        May raise Overloaded instead of queueing a question that would wait too long. Cancelling the call (the
        client went away, or the time limit passed) takes a question that has not started out of the queue."""

    @abstractmethod
    async def params_rules(self) -> ParamsRules:
        """How to check a request's params (see api/params.py)."""

    async def problems(self) -> List[str]:
        """Why the backend cannot answer now (store unreachable, a node down); empty when it can. /health's 503."""
        return []

    @abstractmethod
    async def describe(self) -> Dict[str, Any]:
        """/health's fields but `ready` and `versions`: mode, pipeline, pipeline_yaml, nodes, document_count, ..."""

    # The served store. A backend without one answers 501 (NotImplementedError).

    async def upload(self, files: List[Tuple[str, bytes]], meta: Dict[str, Any], params: Dict[str, Any]) -> Dict[str, Any]:
        """Index (name, content) files through the indexing pipeline: {"files": [{"name", "documents" | "error"}]}."""
        raise NotImplementedError("uploads")

    async def documents(self, filters: Optional[Dict[str, Any]]) -> List[Document]:
        raise NotImplementedError("reading documents")

    async def delete_documents(self, filters: Optional[Dict[str, Any]]) -> None:
        raise NotImplementedError("deleting documents")

    async def write_label(self, label: Label) -> None:
        raise NotImplementedError("feedback")

    async def labels(self, filters: Optional[Dict[str, Any]] = None) -> List[Label]:
        raise NotImplementedError("feedback")

    async def delete_labels(self, ids: List[str]) -> None:
        raise NotImplementedError("feedback")


@dataclass(frozen=True)
class Served:
    """What the routes serve: a backend, the body limits, who may call (API key, CORS), where to meter, and how long a question may take
    (None: no limit)."""

    backend: Backend
    limits: BodyLimits
    access: Access = Access()
    metrics: QAMetrics = QAMetrics()
    question_timeout_s: Optional[float] = None


# The routes ask for it per request: a Serve replica hands over the one it built (serving/ingress.py), a test its own.
ServedProvider = Callable[[], Served]
