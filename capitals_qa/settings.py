"""What the service loads and the limits it enforces: defaults, application arguments, environment variables."""
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Mapping, Optional

PROJECT_DIR = Path(__file__).resolve().parent.parent
DEFAULT_PIPELINE_YAML = PROJECT_DIR / "pipeline.yml"
DEFAULT_DOCUMENTS = PROJECT_DIR / "data" / "countries.jsonl"

# application argument -> (environment variable, default)
OPTIONS = {
    "pipeline": ("PIPELINE_YAML", str(DEFAULT_PIPELINE_YAML)),
    "pipeline_name": ("PIPELINE_NAME", "query"),
    # An empty value means: serve whatever the document store already holds.
    "documents": ("DOCUMENTS_PATH", str(DEFAULT_DOCUMENTS)),
    # A question is a sentence; a few KiB bounds the work one request can cause in the tokenizer and BM25.
    "max_question_bytes": ("MAX_QUESTION_BYTES", 4 * 1024),
    # /query bodies also carry params such as filters, so they get more room.
    "max_query_bytes": ("MAX_QUERY_BYTES", 64 * 1024),
    # single: one deployment runs the whole pipeline; per_node: one deployment per node (capitals_qa/per_node.py).
    "mode": ("SERVE_MODE", "single"),
    # per_node mode: the Reader's batching of concurrent questions, the Reader deployment's user_config.
    "batching": ("READER_BATCHING", "auto"),
    "max_batch_size": ("READER_MAX_BATCH_SIZE", 16),
    "batch_wait_timeout_s": ("READER_BATCH_WAIT_TIMEOUT_S", 0.01),
}
MODES = ("single", "per_node")
DEFAULT_BATCHING = {name: OPTIONS[name][1] for name in ("batching", "max_batch_size", "batch_wait_timeout_s")}

# Haystack reads `<NODE>_PARAMS_<PARAM>` variables when it loads a YAML; these are forwarded to replicas.
NODE_PARAM_VARIABLE = re.compile(r"^[A-Z0-9_]+_PARAMS_[A-Z0-9_]+$")


@dataclass(frozen=True)
class ServiceSettings:
    """Everything a replica needs to build its pipeline; plain values so Ray can ship it to any node."""

    pipeline_yaml: str
    pipeline_name: str
    documents: Optional[str]
    max_question_bytes: int
    max_query_bytes: int
    mode: str = "single"
    reader_batching: Mapping[str, Any] = field(default_factory=lambda: dict(DEFAULT_BATCHING))
    node_param_env: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_args(cls, args: Dict[str, Any], environ: Mapping[str, str] = os.environ) -> "ServiceSettings":
        """Application arguments (`serve run capitals:app key=value`, or `args:` in serve_config.yaml).

        An environment variable that is set wins over its argument, as Haystack's own `<NODE>_PARAMS_<PARAM>`
        variables win over the YAML: one config file serves several setups (docker-compose picks the
        Elasticsearch pipeline with PIPELINE_YAML).
        """
        unknown = sorted(set(args) - set(OPTIONS))
        if unknown:
            raise ValueError(f"unknown application argument(s) {unknown}; expected some of {sorted(OPTIONS)}")
        value = {arg: environ.get(var, args.get(arg, default)) for arg, (var, default) in OPTIONS.items()}
        if value["mode"] not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {value['mode']!r}")
        return cls(
            pipeline_yaml=_absolute(value["pipeline"]),
            pipeline_name=str(value["pipeline_name"]),
            documents=_absolute(value["documents"]) if value["documents"] else None,
            max_question_bytes=_positive_int("max_question_bytes", value["max_question_bytes"]),
            max_query_bytes=_positive_int("max_query_bytes", value["max_query_bytes"]),
            mode=value["mode"],
            reader_batching={
                "batching": value["batching"],
                "max_batch_size": _positive_int("max_batch_size", value["max_batch_size"]),
                "batch_wait_timeout_s": float(value["batch_wait_timeout_s"]),
            },
            node_param_env={k: v for k, v in environ.items() if NODE_PARAM_VARIABLE.match(k)},
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> "ServiceSettings":
        """PIPELINE_YAML, PIPELINE_NAME, DOCUMENTS_PATH, MAX_QUESTION_BYTES, MAX_QUERY_BYTES, node overrides."""
        return cls.from_args({}, environ)


def _absolute(path: str) -> str:
    """Relative paths are looked up in the current directory, then in the project's.

    Replicas may start in another working directory than the command that built the app, so they get
    absolute paths; `serve deploy` builds the app in a Ray task whose directory is not the user's.
    """
    given = Path(path).expanduser()
    if given.is_absolute() or given.exists():
        return str(given.resolve())
    return str((PROJECT_DIR / given).resolve())


def _positive_int(name: str, value: Any) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a whole number, got {value!r}") from None
    if number <= 0:
        raise ValueError(f"{name} must be positive, got {number}")
    return number
