"""NodeChain (per_node mode): the API's Backend in the ingress, over one deployment per node of the pipeline.

Each question walks the chain of node deployments: the first gets the question, each next one what the one before
answered (pickled: the ingress never unpacks it, nor imports Haystack), and the last answers /query's body
(replica/local_node.py). Uploads, documents and feedback go to the node that holds the store (the Retriever),
through ingress/remote_store.py.
"""
import asyncio
import time
from typing import Any, Dict, List, Optional, Sequence

from ray.serve.handle import DeploymentHandle

from capitals_qa import tracing
from capitals_qa.api.backend import Backend, ParamsRules
from capitals_qa.api.metrics import QAMetrics
from capitals_qa.serving.defaults import STORE_CHECK_TIMEOUT_S
from capitals_qa.serving.ingress.remote_store import RemoteStore
from capitals_qa.serving.ingress.retry import call_replica
from capitals_qa.serving.ingress.startup import StartupGate
from capitals_qa.serving.refusals import raise_refusal
from capitals_qa.settings import ServiceSettings


class NodeChain(RemoteStore, Backend):
    def __init__(self, settings: ServiceSettings, root: str, nodes: Dict[str, DeploymentHandle], store_node: Optional[str] = None,
                 metrics: QAMetrics = QAMetrics(), readers: Sequence[str] = ()):
        self.settings = settings
        self.metrics = metrics
        self.root = root
        self.chain: List[str] = list(nodes)  # in the order data flows
        self.readers = set(readers)
        self.nodes = nodes
        self.startup = StartupGate(nodes.values())
        super().__init__(nodes[store_node] if store_node else None, self.startup, "no node of the query pipeline reads a document store",
                         settings.write_log)
        self._rules: Optional[ParamsRules] = None

    async def run(self, query: str, params: Optional[Dict[str, Any]], debug: bool) -> Dict[str, Any]:
        return await self._walk(self.chain, query, params, debug)

    async def retrieve(self, query: str, params: Optional[Dict[str, Any]]) -> Dict[str, Any]:
        nodes = self.chain[: next((i for i, name in enumerate(self.chain) if name in self.readers), len(self.chain))]
        kept = {key: value for key, value in (params or {}).items() if key not in self.readers} or None
        return await self._walk(nodes, query, kept, False)

    async def _walk(self, nodes: List[str], query: str, params: Optional[Dict[str, Any]], debug: bool) -> Dict[str, Any]:
        await self.startup.check()
        given: Any = {"query": query, "params": params}
        for position, name in enumerate(nodes):
            root = self.root if position == 0 else None
            last = position == len(nodes) - 1
            # A node's refusal (Overloaded: its queue is full) is the service's state: it reaches the client as it is.
            given = await self._call_node(name, given, root, last, debug)
        return given

    async def _call_node(self, name: str, given: Any, root: Optional[str], last: bool, debug: bool) -> Any:
        started = time.perf_counter()
        try:
            # The replica gets a copy of `given` (serialized), so the same can go to another replica.
            carrier = tracing.carrier()
            return raise_refusal(await call_replica(lambda: self.nodes[name].run.remote(given, root, last, debug, carrier), f"node {name}"))
        finally:
            # The node's time as the ingress sees it: its queue and the hop to its replica included.
            self.metrics.node_latency(name, time.perf_counter() - started)

    async def params_rules(self) -> ParamsRules:
        if self._rules is None:
            await self.startup.check()
            described = await self._describe_nodes(timeout_s=None)
            ignored: Dict[str, str] = {}
            for info in described.values():
                ignored.update(info["unsupported_parameters"])
            self._rules = ParamsRules({name: set(info["parameters"]) for name, info in described.items()}, ignored)
        return self._rules

    async def problems(self) -> List[str]:
        # As long as a store may take to answer, and a little longer: a node that is merely busy is not down.
        if starting := await self.startup.not_started():
            return [starting]
        described = await self._describe_nodes(timeout_s=STORE_CHECK_TIMEOUT_S + 1)
        return [f"node {name}: {info.get('reason', 'not ready')}" for name, info in described.items() if not info.get("ready")]

    async def describe(self) -> Dict[str, Any]:
        await self.startup.check()
        described = await self._describe_nodes(timeout_s=2)
        counts = [info["document_count"] for info in described.values() if info.get("document_count") is not None]
        return {
            "mode": "per_node",
            "pipeline": self.settings.pipeline_name,
            "pipeline_yaml": self.settings.pipeline,
            "nodes": self.chain,
            "document_count": counts[0] if counts else 0,
            "reader_precision": {name: info["reader_precision"] for name, info in described.items() if "reader_precision" in info},
            "node_status": described,
        }

    async def _describe_nodes(self, timeout_s: Optional[float]) -> Dict[str, Dict[str, Any]]:
        async def describe(name: str) -> Dict[str, Any]:
            try:
                return await asyncio.wait_for(self.nodes[name].describe.remote(), timeout_s)
            except asyncio.TimeoutError:
                return {"ready": False, "reason": f"no answer within {timeout_s} s"}
            except Exception as error:  # its replicas died or failed to start
                return {"ready": False, "reason": f"{type(error).__name__}: {error}"}

        results = await asyncio.gather(*(describe(name) for name in self.chain))
        return dict(zip(self.chain, results))
