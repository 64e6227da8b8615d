"""Request and response bodies of the HTTP API, in the shapes Haystack 1.x's REST API uses."""
from typing import Any, Dict, List, Literal, Optional

from pydantic import BaseModel, Extra, Field, StrictBool, StrictInt, StrictStr, constr, validator
from pydantic.fields import SHAPE_DICT, ModelField

from capitals_qa.settings import DEFAULT_MAX_TOP_K

# The longest question /query and the MCP tools take, in characters (POST / is bounded by MAX_QUESTION_BYTES).
MAX_QUERY_CHARS = 4096
# A /query body is a flat object whose `params` and `filters` nest a few levels; deeper nesting is refused before
# it is parsed, as Python's parser, pydantic and Haystack's filters all recurse per level (1,000 levels: RecursionError).
MAX_JSON_DEPTH = 32


def _nullable_in_schema(schema: Dict[str, Any], model: type) -> None:
    """pydantic 1 describes Optional fields as never null; responses do carry nulls, so say so (OpenAPI 3.1)."""
    for field in model.__fields__.values():
        described = schema.get("properties", {}).get(field.alias)
        if field.allow_none and described is not None:
            kept = {key: described.pop(key) for key in ("title", "description") if key in described}
            schema["properties"][field.alias] = {**kept, "anyOf": [described, {"type": "null"}]}


class ResponseModel(BaseModel):
    class Config:
        schema_extra = staticmethod(_nullable_in_schema)


class NullableFieldsModel(ResponseModel):
    """A request body: a JSON object (pydantic 1 would read `[]` as `{}`), whose Optional fields take null and whose
    schema says so."""

    @classmethod
    def validate(cls, value: Any) -> Any:
        if not isinstance(value, (dict, cls)):
            raise TypeError("must be a JSON object")
        return super().validate(value)

    @validator("*", pre=True)
    def _objects_are_objects(cls, value: Any, field: ModelField) -> Any:
        # The same for a field: pydantic 1 reads a list of pairs, `[]` included, as a dict (`"filters": []` would
        # be "every document").
        if field.shape == SHAPE_DICT and value is not None and not isinstance(value, dict):
            raise TypeError("must be a JSON object")
        return value


# What /query's `params` may hold, as its schema publishes it: `top_k` and `filters` globally or per node (and a
# join's `top_k_join`); a node's name must be one of the served pipeline's (checked against the pipeline, a 400
# naming the nodes it has).
_TOP_K = {"type": "integer", "minimum": 1, "maximum": DEFAULT_MAX_TOP_K,
          "description": f"at most MAX_TOP_K ({DEFAULT_MAX_TOP_K} unless the operator changed it)"}
_FILTERS = {"anyOf": [{"type": "object"}, {"type": "null"}]}
_NODE_PARAMS = {"type": "object", "properties": {"top_k": _TOP_K, "top_k_join": _TOP_K, "filters": _FILTERS}}


def _query_request_schema(schema: Dict[str, Any], model: type) -> None:
    _nullable_in_schema(schema, model)
    schema["properties"]["query"]["minLength"] = 1  # an empty question is refused with its own message (api/body.py)
    params = schema["properties"]["params"]["anyOf"][0]
    params.update(properties={"top_k": _TOP_K, "filters": _FILTERS}, additionalProperties=_NODE_PARAMS)
    schema["description"] = f"Haystack REST's /query body. A body nests at most {MAX_JSON_DEPTH} levels."


class QueryRequest(BaseModel):
    query: constr(strict=True, max_length=MAX_QUERY_CHARS) = Field(..., description="The question.")
    params: Optional[Dict[str, Any]] = Field(
        None,
        description="Global parameters such as `filters` and `top_k`, or per-node dicts such as "
        '`{"Retriever": {"top_k": 10}, "Reader": {"top_k": 3}}`.',
    )
    debug: Optional[StrictBool] = Field(False, description="Add each node's input and output under `_debug`.")

    class Config:
        extra = Extra.forbid
        schema_extra = staticmethod(_query_request_schema)

    @validator("params", pre=True)
    def _params_is_an_object(cls, value):
        # pydantic 1 would turn a list of pairs (even []) into a dict; a client sending a list made a mistake.
        if value is not None and not isinstance(value, dict):
            raise TypeError("must be an object of global or per-node parameters")
        return value


class Span(BaseModel):
    start: StrictInt
    end: StrictInt


class AnswerModel(ResponseModel):
    """`haystack.schema.Answer.to_dict()`."""

    answer: str
    type: str
    score: Optional[float]
    context: Optional[str]
    offsets_in_document: Optional[List[Span]]
    offsets_in_context: Optional[List[Span]]
    document_ids: Optional[List[str]]
    meta: Dict[str, Any]


class DocumentModel(ResponseModel):
    """`haystack.schema.Document.to_dict()` without the embedding."""

    id: str
    content: Any
    content_type: str
    meta: Dict[str, Any]
    score: Optional[float]


class QueryResponse(ResponseModel):
    query: str
    answers: List[AnswerModel] = []
    documents: List[DocumentModel] = []
    debug: Optional[Dict[str, Any]] = Field(None, alias="_debug")


class HealthResponse(ResponseModel):
    ready: bool
    mode: str = Field(..., description="`single`: one deployment runs the pipeline; `per_node`: one per node.")
    pid: Optional[int] = Field(None, description="single mode: the process of the replica that answered")
    pipeline: str = Field(..., description="Name of the served pipeline in its YAML file.")
    pipeline_yaml: str
    nodes: List[str]
    document_count: int
    reader_precision: Dict[str, str] = Field(
        {}, description="Each Reader's numeric format in use: fp32, int8 (CPU) or fp16 (GPU); see `reader_precision`."
    )
    node_status: Optional[Dict[str, Dict[str, Any]]] = Field(
        None, description="per_node mode: each node deployment's readiness, replica, torch threads, batching."
    )
    queue: Optional[Dict[str, Any]] = Field(
        None, description="single mode: this replica's worker threads, questions waiting and running, and how many "
        "were started, refused (503), left the queue (client gone or timed out) since it started."
    )
    answer_cache: Optional[Dict[str, Any]] = Field(
        None, description="The answer cache of the ingress that answered: entries, bytes, bounds, and its hits, misses, joins "
        "(concurrent identical questions answered by one computation), evictions and expirations since it started; null when off."
    )
    versions: Dict[str, str]
    # Haystack REST's /health fields, for its monitoring clients.
    version: str = Field(..., description="Haystack version")
    cpu: "CPUUsage"
    memory: "MemoryUsage"
    gpus: List["GPUInfo"] = []


class CPUUsage(BaseModel):
    used: float = Field(..., description="this replica's CPU use, in percent of the machine")


class MemoryUsage(BaseModel):
    used: float = Field(..., description="this replica's memory use, in percent of the machine")


class GPUUsage(ResponseModel):
    kernel_usage: float = Field(..., description="GPU kernel use in percent")
    memory_total: int = Field(..., description="GPU memory in MB")
    memory_used: Optional[int] = Field(..., description="this replica's GPU memory in MB; null where the driver cannot tell")


class GPUInfo(BaseModel):
    index: int
    usage: GPUUsage


HealthResponse.update_forward_refs(CPUUsage=CPUUsage, MemoryUsage=MemoryUsage, GPUInfo=GPUInfo)


class VersionResponse(BaseModel):
    hs_version: str


class ErrorResponse(BaseModel):
    errors: List[str]


class FilterRequest(NullableFieldsModel):
    """Haystack REST's `{"filters": {...}}`: its filter syntax on `meta`; `{}` or none means every document."""

    filters: Optional[Dict[str, Any]] = Field(None, example={"name": ["Italy", "France"]})


# Strict types where Haystack's own pydantic dataclasses (Document, Answer, Label) check the value again: a value
# pydantic 1 would coerce (false -> "False") must be refused here, naming the field, not deep in the store.
def _a_number(value: Any) -> Any:
    # pydantic 1 would read "1" or true as a float score; Haystack's REST clients send numbers.
    if isinstance(value, (str, bool)):
        raise TypeError("must be a number")
    return value


class DocumentInput(NullableFieldsModel):
    content: StrictStr
    content_type: Literal["text", "table", "image", "audio"] = "text"
    id: Optional[StrictStr] = None
    meta: Dict[str, Any] = {}
    score: Optional[float] = None

    _score_is_a_number = validator("score", pre=True, allow_reuse=True)(_a_number)


class AnswerInput(NullableFieldsModel):
    answer: StrictStr
    type: Literal["generative", "extractive", "other"] = "extractive"
    score: Optional[float] = None
    context: Optional[StrictStr] = None
    offsets_in_document: Optional[List[Span]] = None
    offsets_in_context: Optional[List[Span]] = None
    document_ids: Optional[List[StrictStr]] = None
    meta: Optional[Dict[str, Any]] = None

    _score_is_a_number = validator("score", pre=True, allow_reuse=True)(_a_number)


class FeedbackRequest(NullableFieldsModel):
    """Haystack REST's `CreateLabelSerialized`: one answer judged by a user."""

    id: Optional[StrictStr] = None
    query: StrictStr
    document: DocumentInput
    is_correct_answer: StrictBool
    is_correct_document: StrictBool
    origin: Literal["user-feedback", "gold-label"] = "user-feedback"
    answer: Optional[AnswerInput] = None
    no_answer: Optional[StrictBool] = None
    pipeline_id: Optional[StrictStr] = None
    created_at: Optional[StrictStr] = None
    updated_at: Optional[StrictStr] = None
    meta: Optional[Dict[str, Any]] = None


class FeedbackMetrics(ResponseModel):
    answer_accuracy: Optional[float]
    document_accuracy: Optional[float]
    n_feedback: int


class FileResult(ResponseModel):
    name: str
    documents: Optional[int] = Field(None, description="passages written from this file")
    error: Optional[str] = Field(None, description="why the file was refused")


class UploadResponse(BaseModel):
    files: List[FileResult]


class UploadErrorResponse(BaseModel):
    errors: List[str]
    files: List[FileResult] = Field([], description="each file's result, where the form itself was readable")
