"""What the service loads and the limits it enforces: defaults, and the environment variables that change them."""
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Mapping, Optional

PROJECT_DIR = Path(__file__).resolve().parent.parent
DEFAULT_PIPELINE_YAML = PROJECT_DIR / "pipeline.yml"
DEFAULT_PIPELINE_NAME = "query"
DEFAULT_DOCUMENTS = PROJECT_DIR / "data" / "countries.jsonl"

# A question is a sentence; a few KiB bounds the work one request can cause in the tokenizer and BM25.
DEFAULT_MAX_QUESTION_BYTES = 4 * 1024
# /query bodies also carry params such as filters, so they get more room.
DEFAULT_MAX_QUERY_BYTES = 64 * 1024

# Haystack reads `<NODE>_PARAMS_<PARAM>` variables when it loads a YAML; these are forwarded to replicas.
NODE_PARAM_VARIABLE = re.compile(r"^[A-Z0-9_]+_PARAMS_[A-Z0-9_]+$")


@dataclass(frozen=True)
class ServiceSettings:
    """Everything a replica needs to build its pipeline; plain values so Ray can ship it to any node."""

    pipeline_yaml: str = str(DEFAULT_PIPELINE_YAML)
    pipeline_name: str = DEFAULT_PIPELINE_NAME
    documents: Optional[str] = str(DEFAULT_DOCUMENTS)
    max_question_bytes: int = DEFAULT_MAX_QUESTION_BYTES
    max_query_bytes: int = DEFAULT_MAX_QUERY_BYTES
    node_param_env: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_args(cls, args: Dict[str, Any], environ: Mapping[str, str] = os.environ) -> "ServiceSettings":
        """Application arguments (`serve run capitals:app key=value`, or `args:` in serve_config.yaml).

        Environment variables fill what the arguments leave out, so both ways mean the same.
        """
        known = {"pipeline", "pipeline_name", "documents", "max_question_bytes", "max_query_bytes"}
        unknown = sorted(set(args) - known)
        if unknown:
            raise ValueError(f"unknown application argument(s) {unknown}; expected some of {sorted(known)}")
        from_env = cls.from_env(environ)
        documents = args.get("documents", from_env.documents)
        return cls(
            pipeline_yaml=_absolute(args.get("pipeline", from_env.pipeline_yaml)),
            pipeline_name=str(args.get("pipeline_name", from_env.pipeline_name)),
            # An empty value means: serve whatever the document store already holds.
            documents=_absolute(documents) if documents else None,
            max_question_bytes=_positive_int("max_question_bytes", args.get("max_question_bytes", from_env.max_question_bytes)),
            max_query_bytes=_positive_int("max_query_bytes", args.get("max_query_bytes", from_env.max_query_bytes)),
            node_param_env=from_env.node_param_env,
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> "ServiceSettings":
        """PIPELINE_YAML, PIPELINE_NAME, DOCUMENTS_PATH, MAX_QUESTION_BYTES, MAX_QUERY_BYTES and node overrides."""
        documents = environ.get("DOCUMENTS_PATH", str(DEFAULT_DOCUMENTS))
        return cls(
            pipeline_yaml=_absolute(environ.get("PIPELINE_YAML", str(DEFAULT_PIPELINE_YAML))),
            pipeline_name=environ.get("PIPELINE_NAME", DEFAULT_PIPELINE_NAME),
            documents=_absolute(documents) if documents else None,
            max_question_bytes=_positive_int("MAX_QUESTION_BYTES", environ.get("MAX_QUESTION_BYTES", DEFAULT_MAX_QUESTION_BYTES)),
            max_query_bytes=_positive_int("MAX_QUERY_BYTES", environ.get("MAX_QUERY_BYTES", DEFAULT_MAX_QUERY_BYTES)),
            node_param_env={k: v for k, v in environ.items() if NODE_PARAM_VARIABLE.match(k)},
        )


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
        raise ValueError(f"{name} must be a whole number of bytes, got {value!r}") from None
    if number <= 0:
        raise ValueError(f"{name} must be positive, got {number}")
    return number
