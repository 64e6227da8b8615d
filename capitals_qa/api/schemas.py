"""Request and response bodies of the HTTP API, in the shapes Haystack 1.x's REST API uses."""
from typing import Any, Dict, List, Optional

from pydantic import BaseModel, Extra, Field, StrictBool, StrictStr, validator


class QueryRequest(BaseModel):
    query: StrictStr = Field(..., description="The question.")
    params: Optional[Dict[str, Any]] = Field(
        None,
        description="Global parameters such as `filters` and `top_k`, or per-node dicts such as "
        '`{"Retriever": {"top_k": 10}, "Reader": {"top_k": 3}}`.',
    )
    debug: Optional[StrictBool] = Field(False, description="Add each node's input and output under `_debug`.")

    class Config:
        extra = Extra.forbid

    @validator("params", pre=True)
    def _params_is_an_object(cls, value):
        # pydantic 1 would turn a list of pairs (even []) into a dict; a client sending a list made a mistake.
        if value is not None and not isinstance(value, dict):
            raise TypeError("must be an object of global or per-node parameters")
        return value


class Span(BaseModel):
    start: int
    end: int


class AnswerModel(BaseModel):
    """`haystack.schema.Answer.to_dict()`."""

    answer: str
    type: str
    score: Optional[float]
    context: Optional[str]
    offsets_in_document: Optional[List[Span]]
    offsets_in_context: Optional[List[Span]]
    document_ids: Optional[List[str]]
    meta: Dict[str, Any]


class DocumentModel(BaseModel):
    """`haystack.schema.Document.to_dict()` without the embedding."""

    id: str
    content: Any
    content_type: str
    meta: Dict[str, Any]
    score: Optional[float]


class QueryResponse(BaseModel):
    query: str
    answers: List[AnswerModel] = []
    documents: List[DocumentModel] = []
    debug: Optional[Dict[str, Any]] = Field(None, alias="_debug")


class HealthResponse(BaseModel):
    ready: bool
    mode: str = Field(..., description="`single`: one deployment runs the pipeline; `per_node`: one per node.")
    pipeline: str = Field(..., description="Name of the served pipeline in its YAML file.")
    pipeline_yaml: str
    nodes: List[str]
    document_count: int
    node_status: Optional[Dict[str, Dict[str, Any]]] = Field(
        None, description="per_node mode: each node deployment's readiness, replica, torch threads, batching."
    )
    versions: Dict[str, str]


class VersionResponse(BaseModel):
    hs_version: str


class ErrorResponse(BaseModel):
    errors: List[str]
