"""A query pipeline as a chain of nodes (Query -> Retriever -> Reader), and a question run along it node by node.

Per-node serving runs each node in a deployment of its own: `run_first_steps` and `run_step` are what
`Pipeline.run` does for each node, so answers are the same as when the whole pipeline runs in one process.
"""
import time
from typing import Any, Dict, List, Tuple

from haystack.nodes.base import BaseComponent

from capitals_qa.pipeline.internals import root_node, run_node
from capitals_qa.pipeline.yaml_pipelines import StartupError, YamlPipelines


def node_chain(pipelines: YamlPipelines, pipeline_name: str) -> Tuple[str, List[str]]:
    """The root's name and the nodes in the order data flows through them.

    Only a chain can be split without changing what the pipeline computes: a node with several inputs (a
    join), a node feeding several others, or a decision node's numbered output would need Haystack's graph
    logic between deployments, so such a pipeline is refused rather than served wrong.
    """
    nodes = pipelines.nodes(pipeline_name)
    names = {node["name"] for node in nodes}
    for node in nodes:
        if len(node["inputs"]) != 1:
            raise StartupError(f"per-node mode needs a chain of nodes; {node['name']} has inputs {node['inputs']}")
        if "." in node["inputs"][0]:
            raise StartupError(f"per-node mode cannot follow the routed edge {node['inputs'][0]} into {node['name']}")
        if pipelines.component_class(node["name"]).outgoing_edges != 1:
            raise StartupError(f"per-node mode cannot split after the decision node {node['name']}")
    roots = {node["inputs"][0] for node in nodes} - names
    if len(roots) != 1:
        raise StartupError(f"per-node mode needs a single root; {pipeline_name} starts from {sorted(roots)}")
    (root,) = roots
    consumers: Dict[str, str] = {}
    for node in nodes:
        source = node["inputs"][0]
        if source in consumers:
            raise StartupError(f"per-node mode needs a chain of nodes; {source} feeds {consumers[source]} and {node['name']}")
        consumers[source] = node["name"]
    chain, current = [], root
    while current in consumers:
        current = consumers[current]
        chain.append(current)
    return root, chain


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


def run_first_steps(root: str, node_id: str, component: BaseComponent, question: Dict[str, Any], debug: bool) -> Tuple[Dict[str, Any], str]:
    """The root (which hands the question on under its name) and the first node of the chain, from the question
    {"query", "params"}: what the first node's deployment runs."""
    root_output, _ = run_step(root, root_node(root), {"root_node": root, **question}, debug)
    return run_step(node_id, component, root_output, debug)
