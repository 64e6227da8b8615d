"""A query pipeline as a chain of nodes (Query -> Retriever -> Reader), and a question run along it node by node.

Per-node serving runs each node in a deployment of its own; `run_chain` is `Pipeline.run` for a chain with
the node calls handed in, so answers are the same as when the whole pipeline runs in one process.
"""
import time
from typing import Any, Awaitable, Callable, Dict, List, Optional, Tuple, Type

from capitals_qa.pipeline.internals import root_node, run_node
from capitals_qa.pipeline.yaml_pipelines import StartupError, YamlPipelines

# (node name, node input) -> (node output, edge), as Haystack's `_dispatch_run` returns them.
NodeCall = Callable[[str, Dict[str, Any]], Awaitable[Tuple[Dict[str, Any], str]]]


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


async def run_chain(
    root: str, chain: List[str], call_node: NodeCall, query: str, params: Optional[Dict[str, Any]], debug: bool,
    pass_through: Tuple[Type[BaseException], ...] = (),
) -> Dict[str, Any]:
    """Pipeline.run(query, params, debug) for a chain: each node gets the previous node's output, and every node
    gets the request's debug flag in its params, as Pipeline.run gives it. A node's error is wrapped as
    Pipeline.run wraps it, except those of the `pass_through` types, raised as they are."""
    node_input: Dict[str, Any] = {"root_node": root, "params": params, "query": query}
    for node_id in [root, *chain]:
        node_input["node_id"] = node_id
        node_input["params"] = node_input.get("params") or {}
        node_input["params"].setdefault(node_id, {})["debug"] = debug
        started = time.time()
        try:
            if node_id == root:
                output, _ = run_node(root_node(root), node_input)
            else:
                output, _ = await call_node(node_id, node_input)
        except pass_through:
            raise
        except Exception as error:
            raise Exception(f"Exception while running node '{node_id}': {error}") from error
        if "_debug" in output and node_id in output["_debug"]:
            output["_debug"][node_id]["exec_time_ms"] = round((time.time() - started) * 1000, 2)
        node_input = output
    return node_input
