"""Checking a request's `params` against the pipeline's nodes, before any pipeline work is done."""
import json
from typing import Any, Dict, Optional

from capitals_qa.api.backend import ParamsRules
from capitals_qa.api.errors import RequestError
from capitals_qa.settings import DEFAULT_MAX_TOP_K

# Inputs of a pipeline run, not parameters: passing them through `params` would replace the question or the
# retrieved documents, which no client of a query endpoint should be able to do.
PIPELINE_INPUTS = {"root_node", "query", "queries", "documents", "file_paths", "labels", "meta"}
# Haystack takes `debug` for every node, globally or per node, though no node's `run` names it.
EVERY_NODE_ACCEPTS = {"debug"}
# The run parameters a request may set, where a node's `run` takes them: how many results (a join's too), which
# documents (filters), score scaling and debug output. Others are the operator's: a retriever's `index` (another index
# of the store), `headers` (sent to Elasticsearch, credentials included), `document_store`, a reader's
# `labels` and `add_isolated_node_eval` (evaluation).
TOP_K_PARAMETERS = {"top_k", "top_k_join"}
CLIENT_PARAMETERS = TOP_K_PARAMETERS | {"filters", "scale_score"} | EVERY_NODE_ACCEPTS


def check_params(params: Optional[Dict[str, Any]], rules: ParamsRules, max_top_k: int = DEFAULT_MAX_TOP_K) -> None:
    """Refuse `params` that Haystack would reject, choke on or silently ignore (see ParamsRules), that a client
    may not set (see CLIENT_PARAMETERS), or that cost more than the limits allow (`top_k` above `max_top_k`)."""
    if not params:
        return
    node_parameters, unsupported = rules.node_parameters, rules.ignored
    for key, value in params.items():
        names = value if key in node_parameters and isinstance(value, dict) else {key: value}
        for name, given in names.items():
            if name in unsupported and given:
                raise RequestError(400, f"params: {name!r} is not supported by this pipeline: {unsupported[name]}")
    settable = set().union(EVERY_NODE_ACCEPTS, *node_parameters.values()) - PIPELINE_INPUTS
    global_parameters = settable & CLIENT_PARAMETERS
    nodes = sorted(node_parameters)
    for key, value in params.items():
        if key in node_parameters:
            if not isinstance(value, dict):
                raise RequestError(400, f"params.{key} must be an object of {key}'s parameters, got {_json_type(value)}")
            takes = (node_parameters[key] | EVERY_NODE_ACCEPTS) - PIPELINE_INPUTS
            accepted = takes & CLIENT_PARAMETERS
            for name, node_value in value.items():
                if name in takes - accepted:
                    raise RequestError(
                        400, f"params.{key}.{name}: {name!r} of {key} cannot be set by a request; it accepts {sorted(accepted)}"
                    )
                if name not in accepted:
                    raise RequestError(
                        400, f"params.{key}.{name}: {key} has no parameter {name!r}; it accepts {sorted(accepted)}"
                    )
                _check_value(f"params.{key}.{name}", name, node_value, max_top_k)
        elif key in global_parameters:
            _check_value(f"params.{key}", key, value, max_top_k)
        elif key in settable:
            raise RequestError(
                400, f"params.{key}: {key!r} cannot be set by a request; global parameters are {sorted(global_parameters)}"
            )
        elif key in PIPELINE_INPUTS:
            raise RequestError(400, f"params.{key}: {key!r} is an input of the pipeline, not a parameter")
        else:
            raise RequestError(
                400,
                f"params.{key}: the pipeline has no node or parameter {key!r}; its nodes are {nodes}",
            )


def _check_value(path: str, name: str, value: Any, max_top_k: int) -> None:
    # The parameters clients use most, checked here so a wrong type is the client's 400, not a crash in a node.
    if name in TOP_K_PARAMETERS and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise RequestError(400, f"{path} must be a whole number of at least 1, got {json.dumps(value)}")
    if name in TOP_K_PARAMETERS and value > max_top_k:
        # The cost of a question grows with top_k (the Reader reads every retrieved passage).
        raise RequestError(400, f"{path} must be at most {max_top_k} (the service's MAX_TOP_K), got {value}")
    if name == "filters" and value is not None and not isinstance(value, dict):
        raise RequestError(400, f"{path} must be an object, got {_json_type(value)}")
    if name in {"debug", "scale_score"} and not isinstance(value, bool):
        raise RequestError(400, f"{path} must be true or false, got {json.dumps(value)}")


def _json_type(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number"
    )
