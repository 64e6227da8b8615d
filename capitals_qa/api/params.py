"""Checking a request's `params` against the pipeline's nodes, before any pipeline work is done."""
import json
from typing import Any, Dict, Optional

from capitals_qa.api.backend import ParamsRules
from capitals_qa.api.body import RequestError

# Inputs of a pipeline run, not parameters: passing them through `params` would replace the question or the
# retrieved documents, which no client of a query endpoint should be able to do.
PIPELINE_INPUTS = {"root_node", "query", "queries", "documents", "file_paths", "labels", "meta"}
# Haystack takes `debug` for every node, globally or per node, though no node's `run` names it.
EVERY_NODE_ACCEPTS = {"debug"}


def check_params(params: Optional[Dict[str, Any]], rules: ParamsRules) -> None:
    """Refuse `params` that Haystack would reject, choke on or silently ignore (see ParamsRules)."""
    if not params:
        return
    node_parameters, unsupported = rules.node_parameters, rules.ignored
    for key, value in params.items():
        names = value if key in node_parameters and isinstance(value, dict) else {key: value}
        for name, given in names.items():
            if name in unsupported and given:
                raise RequestError(400, f"params: {name!r} is not supported by this pipeline: {unsupported[name]}")
    global_parameters = set().union(EVERY_NODE_ACCEPTS, *node_parameters.values()) - PIPELINE_INPUTS
    nodes = sorted(node_parameters)
    for key, value in params.items():
        if key in node_parameters:
            if not isinstance(value, dict):
                raise RequestError(400, f"params.{key} must be an object of {key}'s parameters, got {_json_type(value)}")
            accepted = (node_parameters[key] | EVERY_NODE_ACCEPTS) - PIPELINE_INPUTS
            for name, node_value in value.items():
                if name not in accepted:
                    raise RequestError(
                        400, f"params.{key}.{name}: {key} has no parameter {name!r}; it accepts {sorted(accepted)}"
                    )
                _check_value(f"params.{key}.{name}", name, node_value)
        elif key in global_parameters:
            _check_value(f"params.{key}", key, value)
        elif key in PIPELINE_INPUTS:
            raise RequestError(400, f"params.{key}: {key!r} is an input of the pipeline, not a parameter")
        else:
            raise RequestError(
                400,
                f"params.{key}: the pipeline has no node or parameter {key!r}; its nodes are {nodes}",
            )


def _check_value(path: str, name: str, value: Any) -> None:
    # The parameters clients use most, checked here so a wrong type is the client's 400, not a crash in a node.
    if name == "top_k" and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise RequestError(400, f"{path} must be a whole number of at least 1, got {json.dumps(value)}")
    if name == "filters" and value is not None and not isinstance(value, dict):
        raise RequestError(400, f"{path} must be an object, got {_json_type(value)}")
    if name in {"debug", "scale_score"} and not isinstance(value, bool):
        raise RequestError(400, f"{path} must be true or false, got {json.dumps(value)}")


def _json_type(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number"
    )
