"""Checks, before anything is deployed, that the query pipeline's models and document store can be reached.

Without them a replica fails to load, Serve retries it for minutes, and the cause is buried in hundreds of log
lines. Each check is cheap (a folder, the Hugging Face cache, one hub request, one TCP connection) and raises
StartupError with one line naming the component, the model or host, and what to do.
"""
import os
import socket
from pathlib import Path
from typing import Dict, Optional

from capitals_qa.pipeline.yaml_pipelines import StartupError, YamlPipelines

# Parameters that name a Hugging Face model, in Haystack's readers and retrievers.
MODEL_PARAMETERS = ("model_name_or_path", "query_embedding_model", "passage_embedding_model", "embedding_model")
HUB_TIMEOUT_S = 10
STORE_TIMEOUT_S = 5


def check_loadable(pipelines: YamlPipelines, pipeline_name: str) -> None:
    """Raise StartupError when a model of the pipeline is nowhere to be loaded from, or its Elasticsearch is unreachable."""
    for node in pipelines.nodes(pipeline_name):
        definition = pipelines.definition(node["name"])
        for parameter in MODEL_PARAMETERS:
            model = definition.get("params", {}).get(parameter)
            if isinstance(model, str) and model:
                check_model(node["name"], parameter, model)
        store = definition.get("params", {}).get("document_store")
        if isinstance(store, str):
            check_store(store, pipelines.definition(store))


def check_model(component: str, parameter: str, model: str) -> None:
    fix = f"set {component.upper()}_PARAMS_{parameter.upper()}=/path/to/model to load one from disk"
    if Path(model).expanduser().is_dir() or _in_hf_cache(model):
        return
    if Path(model).expanduser().is_absolute() or model.startswith("."):
        raise StartupError(f"{component}: model folder {model} does not exist; {fix}")
    if _offline():
        raise StartupError(
            f"{component}: model {model!r} is not on disk or in the Hugging Face cache, and HF_HUB_OFFLINE forbids "
            f"downloading it; {fix}, or download it once with the hub reachable"
        )
    problem = _hub_problem(model)
    if problem:
        raise StartupError(f"{component}: model {model!r} is not on disk or in the Hugging Face cache, and {problem}; {fix}")


def check_store(name: str, definition: Dict) -> None:
    """Elasticsearch and OpenSearch stores: their host and port answer a TCP connection."""
    kind = definition.get("type", "")
    if "Elasticsearch" not in kind and "OpenSearch" not in kind:
        return
    params = definition.get("params", {})
    host, port = str(params.get("host", "localhost")), int(params.get("port", 9200))
    try:
        with socket.create_connection((host, port), timeout=STORE_TIMEOUT_S):
            return
    except OSError as error:
        raise StartupError(
            f"{name}: cannot reach {kind} at {host}:{port} ({error}); start it, or set "
            f"{name.upper()}_PARAMS_HOST and {name.upper()}_PARAMS_PORT to where it runs"
        ) from None


def _in_hf_cache(model: str) -> bool:
    from huggingface_hub import try_to_load_from_cache

    try:
        return isinstance(try_to_load_from_cache(model, "config.json"), str)
    except Exception:  # not a valid hub name: not cached
        return False


def _offline() -> bool:
    return any(os.environ.get(name, "").lower() in {"1", "true", "yes", "on"} for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def _hub_problem(model: str) -> Optional[str]:
    """None when the hub has the model; otherwise why it cannot be downloaded."""
    from huggingface_hub import model_info
    from huggingface_hub.utils import GatedRepoError, HFValidationError, RepositoryNotFoundError

    try:
        model_info(model, timeout=HUB_TIMEOUT_S)
    except GatedRepoError:
        return None  # it exists; the token decides, as it will when the replica downloads it
    except (RepositoryNotFoundError, HFValidationError):
        return "the Hugging Face hub has no model of that name"
    except Exception as error:
        return f"the Hugging Face hub cannot be reached ({type(error).__name__})"
    return None
