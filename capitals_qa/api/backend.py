"""What the routes need from whatever runs the pipeline: one process, or a chain of Serve deployments."""
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Mapping, Optional, Set

from capitals_qa.api.access import Access
from capitals_qa.api.metrics import QAMetrics


@dataclass(frozen=True)
class ParamsRules:
    """Each node's accepted `run` parameters, and parameters the pipeline accepts but would ignore (-> why)."""

    node_parameters: Mapping[str, Set[str]]
    ignored: Mapping[str, str] = field(default_factory=dict)


# The most results a request may ask of a node (`top_k`): the Reader reads every passage retrieved.
DEFAULT_MAX_TOP_K = 200


@dataclass(frozen=True)
class BodyLimits:
    """What one request may cost: body sizes, and `top_k` of any node."""

    max_question_bytes: int
    max_query_bytes: int
    max_top_k: int = DEFAULT_MAX_TOP_K


class Backend(ABC):
    @abstractmethod
    async def run(self, query: str, params: Optional[Dict[str, Any]], debug: bool) -> Dict[str, Any]:
        """The result of `Pipeline.run(query=..., params=..., debug=...)`: Haystack's answers and documents."""

    @abstractmethod
    async def params_rules(self) -> ParamsRules:
        """How to check a request's params (see api/params.py)."""

    @abstractmethod
    async def describe(self) -> Dict[str, Any]:
        """/health's fields but `ready` and `versions`: mode, pipeline, pipeline_yaml, nodes, document_count, ..."""


@dataclass(frozen=True)
class Served:
    """What the routes serve: a backend, the body limits, who may call (API key, CORS), and where to meter."""

    backend: Backend
    limits: BodyLimits
    access: Access = Access()
    metrics: QAMetrics = QAMetrics()


# The routes ask for it per request: a Serve replica hands over the one it built (serving/ingress.py), a test its own.
ServedProvider = Callable[[], Served]
