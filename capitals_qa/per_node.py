"""The per-node mode: one Serve deployment per node of the query pipeline, composed along the YAML's graph.

Each node scales on its own (the Reader on more replicas or a GPU, the Retriever light); a thin ingress walks
the chain Query -> node -> node the way `Pipeline.run` does, so answers are the same as in the single mode.
"""
import asyncio
import functools
import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, List, Optional, Tuple

from haystack.nodes import FARMReader
from haystack.pipelines.base import RootNode
import ray
from ray import serve
from ray.serve import Application
from ray.serve.handle import DeploymentHandle

from capitals_qa.deployment import REPLICA_ENV
from capitals_qa.pipelines import (
    StartupError,
    YamlPipelines,
    document_count,
    fill_document_store,
    run_parameters,
    unsupported_parameters,
)
from capitals_qa.server.app import QARoutes, api
from capitals_qa.settings import DEFAULT_BATCHING, ServiceSettings
from capitals_qa.workers import TorchWorkers, assigned_cpus, guard_for_threads


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


def batching_enabled(setting: Any, has_gpu: bool) -> bool:
    # Measured on 2 CPU cores: one batched model call was slower per question than single calls, so "auto"
    # batches only on a GPU, where one large call beats several small ones.
    if isinstance(setting, str) and setting.lower() == "auto":
        return has_gpu
    if isinstance(setting, str):
        return setting.lower() in {"true", "1", "yes", "on"}
    return bool(setting)


@serve.deployment(ray_actor_options={"num_cpus": 0, "runtime_env": {"env_vars": REPLICA_ENV}}, max_ongoing_requests=32)
class PipelineNode:
    """One node of the pipeline (and the document store it reads), loaded once per replica."""

    def __init__(self, settings: ServiceSettings, node_name: str):
        self.workers = TorchWorkers(assigned_cpus())
        self.name = node_name
        pipelines = YamlPipelines(settings.pipeline_yaml, settings.node_param_env)
        self.component = pipelines.component(node_name)
        self.store = getattr(self.component, "document_store", None)
        fill_document_store(pipelines, self.store, settings.documents)
        if self.store is not None:
            guard_for_threads(self.store)
        self._request_threads: Optional[ThreadPoolExecutor] = None
        self.batching = False
        self.batch_sizes: List[int] = []
        if isinstance(self.component, FARMReader):
            self._infer = self.component.inferencer.inference_from_objects
            self.component.inferencer.inference_from_objects = self._infer_in_batch
            self.reconfigure(DEFAULT_BATCHING)

    def reconfigure(self, config: Dict[str, Any]) -> None:
        """user_config: {"batching": "auto"|true|false, "max_batch_size": int, "batch_wait_timeout_s": float}."""
        if not isinstance(self.component, FARMReader):
            return
        config = {**DEFAULT_BATCHING, **(config or {})}
        has_gpu = ray.get_runtime_context().get_assigned_resources().get("GPU", 0) > 0
        self.batching = batching_enabled(config["batching"], has_gpu)
        self.max_batch_size = int(config["max_batch_size"])
        self._infer_batch.set_max_batch_size(self.max_batch_size)
        self._infer_batch.set_batch_wait_timeout_s(float(config["batch_wait_timeout_s"]))
        # Batched questions wait in their own threads while one model call serves them all.
        if self._request_threads is not None:
            self._request_threads.shutdown(wait=False)
        self._request_threads = ThreadPoolExecutor(max_workers=self.max_batch_size, thread_name_prefix="request")

    async def run(self, node_input: Dict[str, Any]) -> Tuple[Dict[str, Any], str]:
        """What `Pipeline.run` does for one node: `_dispatch_run` with the previous node's output."""
        self._loop = asyncio.get_running_loop()
        run = functools.partial(self.component._dispatch_run, **node_input)
        if self.batching:
            return await self._loop.run_in_executor(self._request_threads, run)
        debug = ((node_input.get("params") or {}).get(self.name) or {}).get("debug")
        return await self.workers.run(run, exclusive=bool(debug))

    def _infer_in_batch(self, objects, **kwargs):
        """FARMReader.predict's model call. With batching on, it joins the calls of concurrent questions."""
        if not self.batching:
            return self._infer(objects=objects, **kwargs)
        return asyncio.run_coroutine_threadsafe(self._infer_batch((objects, kwargs)), self._loop).result()

    @serve.batch(max_batch_size=DEFAULT_BATCHING["max_batch_size"], batch_wait_timeout_s=DEFAULT_BATCHING["batch_wait_timeout_s"])
    async def _infer_batch(self, calls: List[Tuple[list, dict]]) -> List[list]:
        # Every question's (query, document) pairs in one model call; each pair keeps its own prediction,
        # and FARMReader.predict then does the rest (deduplication, answer extraction) per question as usual.
        pairs = [pair for objects, _ in calls for pair in objects]
        self.batch_sizes.append(len(calls))
        run = functools.partial(self._infer, objects=pairs, **calls[0][1])
        predictions = await self.workers.run(run)
        split, start = [], 0
        for objects, _ in calls:
            split.append(predictions[start : start + len(objects)])
            start += len(objects)
        return split

    async def describe(self) -> Dict[str, Any]:
        info = {
            "ready": True,
            "pid": os.getpid(),
            "cpus": self.workers.cpus,
            "parameters": sorted(run_parameters(self.component)),
            "unsupported_parameters": unsupported_parameters(self.store),
            "document_count": document_count(self.store) if self.store is not None else None,
        }
        if isinstance(self.component, FARMReader):
            info.update(batching=self.batching, max_batch_size=self.max_batch_size, largest_batch=max(self.batch_sizes, default=0))
        return info


@serve.deployment(
    ray_actor_options={"num_cpus": 0, "runtime_env": {"env_vars": REPLICA_ENV}}, max_ongoing_requests=64, max_queued_requests=64
)
@serve.ingress(api)
class PerNodeIngress(QARoutes):
    """The HTTP API of the single mode, each question walked through the node deployments in turn."""

    def __init__(self, settings: ServiceSettings, root: str, chain: List[str], nodes: Dict[str, DeploymentHandle]):
        self.settings = settings
        self.root = root
        self.root_component = RootNode()
        self.chain = chain
        self.nodes = nodes
        self._rules = None

    async def run_pipeline(self, query: str, params: Optional[Dict[str, Any]], debug: bool) -> Dict[str, Any]:
        # Pipeline.run for a chain: each node gets the previous node's output, with the same debug flags.
        node_input: Dict[str, Any] = {"root_node": self.root, "params": params, "query": query}
        for node_id in [self.root, *self.chain]:
            node_input["node_id"] = node_id
            if debug is None and node_input.get("params"):
                debug = params.get("debug")
            if debug is not None:
                node_input["params"] = node_input.get("params") or {}
                node_input["params"].setdefault(node_id, {})["debug"] = debug
            started = time.time()
            try:
                if node_id == self.root:
                    output, _ = self.root_component._dispatch_run(**node_input)
                else:
                    output, _ = await self.nodes[node_id].run.remote(node_input)
            except Exception as error:
                raise Exception(f"Exception while running node '{node_id}': {error}") from error
            if "_debug" in output and node_id in output["_debug"]:
                output["_debug"][node_id]["exec_time_ms"] = round((time.time() - started) * 1000, 2)
            node_input = output
        return node_input

    async def params_rules(self):
        if self._rules is None:
            described = await self._describe_nodes(timeout_s=None)
            unsupported = {}
            for info in described.values():
                unsupported.update(info["unsupported_parameters"])
            self._rules = ({name: set(info["parameters"]) for name, info in described.items()}, unsupported)
        return self._rules

    async def health_info(self) -> Dict[str, Any]:
        described = await self._describe_nodes(timeout_s=2)
        counts = [info["document_count"] for info in described.values() if info.get("document_count") is not None]
        return {
            "mode": "per_node",
            "pipeline": self.settings.pipeline_name,
            "pipeline_yaml": self.settings.pipeline_yaml,
            "nodes": self.chain,
            "document_count": counts[0] if counts else 0,
            "node_status": described,
        }

    async def _describe_nodes(self, timeout_s: Optional[float]) -> Dict[str, Dict[str, Any]]:
        async def describe(name: str) -> Dict[str, Any]:
            try:
                return await asyncio.wait_for(self.nodes[name].describe.remote(), timeout_s)
            except asyncio.TimeoutError:
                return {"ready": False, "reason": f"no answer within {timeout_s} s"}

        results = await asyncio.gather(*(describe(name) for name in self.chain))
        return dict(zip(self.chain, results))


def build_per_node_app(settings: ServiceSettings) -> Application:
    """One deployment per node, named after the node, so serve_config.yaml can scale each by name."""
    pipelines = YamlPipelines(settings.pipeline_yaml, settings.node_param_env)
    root, chain = node_chain(pipelines, settings.pipeline_name)
    nodes = {}
    for name in chain:
        options: Dict[str, Any] = {"name": name}
        if issubclass(pipelines.component_class(name), FARMReader):
            # A lone Reader replica gets every core, as in the single mode; serve_config.yaml sets its own.
            options.update(
                ray_actor_options={"num_cpus": os.cpu_count() or 1, "runtime_env": {"env_vars": REPLICA_ENV}},
                user_config=dict(settings.reader_batching),
            )
        nodes[name] = PipelineNode.options(**options).bind(settings, name)
    return PerNodeIngress.bind(settings, root, chain, nodes)
