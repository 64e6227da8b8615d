"""A query pipeline as a graph of nodes, and a question run through it node by node as `Pipeline.run` runs it.

Per-node serving runs each node in a deployment of its own and the ingress walks the graph
(serving/ingress/node_graph.py). What runs in a node's replica is here: `run_first_steps` (the root, then the first
node), `run_step` (one node, from the output before it) and `join_input` (a node with several inputs, from their
outputs in the order they were made), so answers are the same as when the whole pipeline runs in one process.
"""
import time
from typing import Any, Dict, List, Optional, Tuple

from haystack.nodes.base import BaseComponent

from capitals_qa.pipeline.internals import combine_node_outputs, run_node
from capitals_qa.pipeline.yaml_pipelines import StartupError, YamlPipelines

# An edge of the graph: (from, its output, to). A node's plain input "Retriever" is Retriever's output_1; a decision
# node's outputs are named ("Classifier.output_2").
Edge = Tuple[str, str, str]


def node_graph(pipelines: YamlPipelines, pipeline_name: str) -> Tuple[str, List[str], List[Edge]]:
    """The root's name, the nodes as the YAML lists them, and the edges in the order Haystack adds them (which is
    the order `Pipeline.run` hands a node's output to the nodes after it)."""
    nodes = pipelines.nodes(pipeline_name)
    names = [node["name"] for node in nodes]
    edges: List[Edge] = []
    roots = set()
    for node in nodes:
        for given in node["inputs"]:
            source, _, output = given.partition(".")
            if source not in names:
                roots.add(source)
            edges.append((source, output or "output_1", node["name"]))
    if len(roots) != 1:
        raise StartupError(f"per-node mode needs a single root; {pipeline_name} starts from {sorted(roots)}")
    return roots.pop(), names, edges


def run_step(node_id: str, component: BaseComponent, node_input: Dict[str, Any], debug: bool) -> Tuple[Dict[str, Any], str]:
    """What Pipeline.run does for one node: the request's debug flag in the node's params, the node's run with the
    previous node's output, and its time in the debug output. Returns (output, edge)."""
    node_input["node_id"] = node_id
    node_input["params"] = node_input.get("params") or {}
    node_input["params"].setdefault(node_id, {})["debug"] = debug
    started = time.time()
    output, edge = run_node(component, node_input)
    if "_debug" in output and node_id in output["_debug"]:
        output["_debug"][node_id]["exec_time_ms"] = round((time.time() - started) * 1000, 2)
    return output, edge


def join_input(inputs: List[Dict[str, Any]], question: Dict[str, Any]) -> Dict[str, Any]:
    """What Pipeline.run hands a node with several inputs: their outputs under `inputs`, in the order they were
    made, the request's params, the outputs' other keys (the first output's value where they share one), their debug
    output, and the question."""
    params: Optional[Dict[str, Any]] = question.get("params")
    merged: Dict[str, Any] = inputs[0]
    for position, output in enumerate(inputs[1:]):
        if position == 0:
            updated: Dict[str, Any] = {"inputs": [merged, output], "params": params}
            if "_debug" in merged or "_debug" in output:
                updated["_debug"] = {**merged.get("_debug", {}), **output.get("_debug", {})}
            updated = {**combine_node_outputs(merged, output), **updated}
            if question.get("query") and "query" not in updated:
                updated["query"] = question["query"]
        else:
            merged["inputs"].append(output)
            if "_debug" in output:
                merged["_debug"] = {**merged.get("_debug", {}), **output.get("_debug", {})}
            updated = {**combine_node_outputs(merged, output), **merged}
        merged = updated
    return merged
