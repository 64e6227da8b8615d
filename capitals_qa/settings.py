"""What the service loads and the limits it enforces: one typed model for arguments and environment variables.

`serve run capitals:app key=value` (or `args:` in a serve config file) gives the arguments; each has an
environment variable, and a variable that is set wins over its argument, as Haystack's `<NODE>_PARAMS_<PARAM>`
variables win over the YAML: one config file serves several setups (docker-compose picks the Elasticsearch
pipeline with PIPELINE_YAML). A bad value stops the app before anything is deployed, naming the setting.
"""
import os
import re
from pathlib import Path
from typing import Any, Dict, List, Literal, Mapping, Optional, Tuple, Union

from pydantic import BaseModel, BaseSettings, Extra, Field, SecretStr, validator


from capitals_qa.pipeline.precision import PRECISIONS

PROJECT_DIR = Path(__file__).resolve().parent.parent
DEFAULT_PIPELINE_YAML = PROJECT_DIR / "pipeline.yml"
# 20,251 passages of 200 words from 456 Wikipedia articles on countries and capitals (data/countries-and-capitals.SOURCE.md).
DEFAULT_DOCUMENTS = PROJECT_DIR / "data" / "countries-and-capitals.jsonl.gz"
DEFAULT_STORE_CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "capitals-qa"
# What the service writes: the shared write log and feedback labels of in-memory stores.
STATE_DIR = PROJECT_DIR / "var"

# The most results a request may ask of a node (`top_k`): the Reader reads every passage retrieved.
DEFAULT_MAX_TOP_K = 200

# Haystack's `<NODE>_PARAMS_<PARAM>` variables override a component's YAML parameters.
NODE_OVERRIDE = re.compile(r"^[A-Z0-9_]+_PARAMS_[A-Z0-9_]+$")
# What a browser sends as Origin: scheme, host and an optional port, nothing after.
CORS_ORIGIN = re.compile(r"^https?://[A-Za-z0-9.\-\[\]:]+$")

# "auto": batch on GPU replicas only (slower per question on CPU: docs/performance.md).
BatchingMode = Union[Literal["auto"], bool]


def _positive_int(name: str, value: Any) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"must be a whole number, got {value!r}") from None
    if number <= 0:
        raise ValueError(f"must be positive, got {number}")
    return number


class ReaderBatching(BaseModel):
    """The per-node Reader's batching of concurrent questions: its Serve `user_config`, changeable while running."""

    batching: BatchingMode = "auto"
    max_batch_size: int = 16
    batch_wait_timeout_s: float = Field(0.01, ge=0)

    class Config:
        extra = Extra.forbid

    _max_batch_size_positive = validator("max_batch_size", pre=True, allow_reuse=True)(
        lambda value: _positive_int("max_batch_size", value)
    )

    def enabled(self, has_gpu: bool) -> bool:
        return has_gpu if self.batching == "auto" else self.batching


DEFAULT_READER_BATCHING = ReaderBatching()


class ServiceSettings(BaseSettings):
    """Everything a replica needs to build its pipeline; plain values, so Ray can ship it to any node."""

    # Each second variable name is Haystack REST API's, so its deployments' settings work here unchanged.
    pipeline: str = Field(str(DEFAULT_PIPELINE_YAML), env=["PIPELINE_YAML", "PIPELINE_YAML_PATH"], description="the pipeline YAML")
    pipeline_name: str = Field("query", env=["PIPELINE_NAME", "QUERY_PIPELINE_NAME"], description="the pipeline in it that answers")
    indexing_pipeline_name: str = Field("indexing", env=["INDEXING_PIPELINE_NAME"], description="the pipeline /file-upload runs")
    # An empty value means: serve whatever the document store already holds.
    documents: Optional[str] = Field(str(DEFAULT_DOCUMENTS), env="DOCUMENTS_PATH")
    # Where replicas keep snapshots of the embedded store built from `documents` (pipeline/snapshot.py): the first
    # start on a machine builds one, later ones load it in about a second. Empty: always index at start.
    store_cache: Optional[str] = Field(str(DEFAULT_STORE_CACHE), env="STORE_CACHE_DIR")
    # A question is a sentence; a few KiB bounds the work one request can cause in the tokenizer and BM25.
    max_question_bytes: int = Field(4 * 1024, env="MAX_QUESTION_BYTES")
    # /query bodies also carry params such as filters, so they get more room.
    max_query_bytes: int = Field(64 * 1024, env="MAX_QUERY_BYTES")
    # Uploads are text files; the limit bounds the memory and indexing work of one request.
    max_upload_bytes: int = Field(10 * 1024 * 1024, env="MAX_UPLOAD_BYTES")
    # SQLite files for an in-memory store: the writes every replica follows, and feedback labels. Relative paths
    # are taken from the current directory; empty: writes stay in the replica that took them, labels in memory.
    write_log: Optional[str] = Field(str(STATE_DIR / "writes.sqlite"), env="WRITE_LOG")
    feedback_db: Optional[str] = Field(str(STATE_DIR / "feedback.sqlite"), env="FEEDBACK_DB")
    # The largest `top_k` a request may give any node: a question's cost grows with it (the Reader reads them all).
    max_top_k: int = Field(DEFAULT_MAX_TOP_K, env="MAX_TOP_K")
    # When set, every route but /health and /initialized needs it (Authorization: Bearer, or X-API-Key).
    # A SecretStr: printed as '**********' wherever the settings are logged.
    api_key: Optional[SecretStr] = Field(None, env="API_KEY")
    # Where the HTTP proxy listens beyond loopback (serve_config.yaml: 0.0.0.0) and no API key is set, uploads,
    # deletes and feedback writes answer 403, as anyone on the network could change the store; true opens them anyway.
    open_writes: bool = Field(False, env="OPEN_WRITES")
    # Browser origins allowed to call the API, comma-separated (`https://app.example.com`, or `*`); empty: CORS off.
    cors_origins: str = Field("", env="CORS_ORIGINS")
    # Overload: a question that would wait longer than this for a worker, or find this many waiting, gets a 503
    # with Retry-After at once; one that runs longer than question_timeout_s gets a 504. Keep question_timeout_s
    # below the proxy's request_timeout_s (serve_config.yaml: 60), whose 408 is plain text.
    max_queue_wait_s: float = Field(5.0, gt=0, env="MAX_QUEUE_WAIT_S")
    max_waiting_questions: int = Field(16, env="MAX_WAITING_QUESTIONS")
    question_timeout_s: float = Field(30.0, gt=0, env="QUESTION_TIMEOUT_S")
    # Answers to repeated questions, kept in the ingress (api/answer_cache.py): at most this many, this many bytes
    # of JSON, each for this long (for stores that change behind the service's back); 0 in any turns it off.
    answer_cache_max_entries: int = Field(10_000, ge=0, env="ANSWER_CACHE_MAX_ENTRIES")
    answer_cache_max_bytes: int = Field(64 * 1024 * 1024, ge=0, env="ANSWER_CACHE_MAX_BYTES")
    answer_cache_ttl_s: float = Field(300.0, ge=0, env="ANSWER_CACHE_TTL_S")
    # single: one deployment runs the whole pipeline; per_node: one deployment per node of its graph.
    mode: Literal["single", "per_node"] = Field("single", env="SERVE_MODE")
    # per_node mode: the Reader deployment's user_config (see ReaderBatching).
    batching: BatchingMode = Field(DEFAULT_READER_BATCHING.batching, env="READER_BATCHING")
    max_batch_size: int = Field(DEFAULT_READER_BATCHING.max_batch_size, env="READER_MAX_BATCH_SIZE")
    batch_wait_timeout_s: float = Field(DEFAULT_READER_BATCHING.batch_wait_timeout_s, ge=0, env="READER_BATCH_WAIT_TIMEOUT_S")
    # The Reader's numeric format, applied at replica start (see pipeline/precision.py): fp32 answers exactly as
    # Haystack does; int8 (CPU) and fp16 (GPU) trade a little accuracy for speed; auto picks per replica.
    reader_precision: str = Field("fp32", env="READER_PRECISION")
    # Haystack's `<NODE>_PARAMS_<PARAM>` variables of the process that builds the app, applied in every
    # replica (whose environment is not that process's). Captured, never read from a variable of its own.
    node_overrides: Dict[str, str] = Field(default_factory=dict, env=[])

    class Config:
        extra = Extra.forbid

        @classmethod
        def customise_sources(cls, init_settings, env_settings, file_secret_settings):
            return env_settings, init_settings  # a set variable wins over the argument

    @validator("pipeline", "documents", "store_cache")
    def _absolute(cls, path: Optional[str]) -> Optional[str]:
        """Relative paths are looked up in the current directory, then in the project's.

        Replicas may start in another working directory than the command that built the app, so they get
        absolute paths; `serve deploy` builds the app in a Ray task whose directory is not the user's.
        """
        if not path:
            return None
        given = Path(path).expanduser()
        if given.is_absolute() or given.exists():
            return str(given.resolve())
        return str((PROJECT_DIR / given).resolve())

    @validator("write_log", "feedback_db")
    def _absolute_state(cls, path: Optional[str]) -> Optional[str]:
        # Files the service creates: relative to where the app is built, as replicas may run elsewhere.
        return str(Path(path).expanduser().resolve()) if path else None

    @validator("max_question_bytes", "max_query_bytes", "max_upload_bytes", "max_top_k", "max_batch_size", "max_waiting_questions", pre=True)
    def _positive(cls, value: Any, field) -> int:
        return _positive_int(field.name, value)

    @validator("api_key")
    def _usable_key(cls, key: Optional[SecretStr]) -> Optional[SecretStr]:
        value = key.get_secret_value() if key is not None else ""
        if not value:
            return None
        # It travels in an HTTP header; a short key is guessed.
        if len(value) < 16 or not all(33 <= ord(char) < 127 for char in value):
            raise ValueError("must be at least 16 printable ASCII characters, without spaces")
        return key

    @validator("cors_origins")
    def _origins(cls, origins: str) -> str:
        for origin in _split(origins):
            if origin != "*" and not CORS_ORIGIN.match(origin):
                raise ValueError(f"{origin!r} is not an origin such as https://app.example.com or http://localhost:3000, or *")
        return origins

    @validator("reader_precision", pre=True)
    def _known_precision(cls, value: Any) -> str:
        if str(value).lower() not in PRECISIONS:
            raise ValueError(f"must be one of {', '.join(PRECISIONS)}; got {value!r}")
        return str(value).lower()

    @validator("node_overrides", always=True)
    def _captured(cls, given: Dict[str, str]) -> Dict[str, str]:
        return given or node_overrides(os.environ)

    @property
    def api_key_value(self) -> Optional[str]:
        return self.api_key.get_secret_value() if self.api_key is not None else None

    @property
    def cors_origin_list(self) -> List[str]:
        return _split(self.cors_origins)

    @property
    def pipeline_source(self) -> Tuple[str, str, Optional[str], Dict[str, str], Optional[str]]:
        """The arguments of pipeline.yaml_pipelines.load_served_pipelines: YAML, pipeline, documents, overrides, cache."""
        return self.pipeline, self.pipeline_name, self.documents, self.node_overrides, self.store_cache

    @property
    def reader_batching(self) -> ReaderBatching:
        return ReaderBatching(batching=self.batching, max_batch_size=self.max_batch_size, batch_wait_timeout_s=self.batch_wait_timeout_s)


def _split(values: str) -> List[str]:
    return [value.strip() for value in values.split(",") if value.strip()]


def node_overrides(environ: Mapping[str, str]) -> Dict[str, str]:
    """The `<NODE>_PARAMS_<PARAM>` variables of an environment."""
    return {key: value for key, value in environ.items() if NODE_OVERRIDE.match(key)}


def environment_variables() -> Dict[str, str]:
    """argument -> its environment variable (the first, where Haystack's name is an alias), for messages and docs."""
    return {name: names[0] for name, names in all_environment_variables().items()}


def all_environment_variables() -> Dict[str, List[str]]:
    """argument -> every environment variable that sets it, the one that wins first."""
    return {name: [env.upper() for env in field.field_info.extra["env_names"]]
            for name, field in ServiceSettings.__fields__.items() if field.field_info.extra.get("env_names")}
