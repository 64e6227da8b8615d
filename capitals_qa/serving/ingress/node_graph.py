"""NodeGraph (per_node mode): the API's Backend in the ingress, over one deployment per node of the pipeline.

Each question walks the graph of node deployments as `Pipeline.run` walks its nodes: a queue of nodes with their
inputs, in order; a node runs once none of the nodes it depends on is still queued; its output goes to the nodes
after it on the edge it chose (a decision node chooses one), and a node with several inputs gets them all, in the
order they were made (pipeline/graph.py, `join_input`). Nodes that may run at the same time (two retrievers after the
root) are asked at once, and their outputs are handed on in the order `Pipeline.run` would have run them, so the
answer is the same. What flows between nodes stays pickled: the ingress never unpacks it, nor imports Haystack; a
node with no node after it answers /query's body (replica/local_node.py). Uploads, documents and feedback go to the
node that takes the store's writes, through ingress/remote_store.py.
"""
import asyncio
import time
from typing import Any, Dict, List, Optional, Sequence, Set, Tuple

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

# A node's answer: (what it hands on, the output edge it chose). What it hands on is its output pickled, or for the
# edge "split" one pickled part per edge, or /query's body from a node asked as the last.
Answer = Tuple[Any, str]
# In what a node is given: the root's output, which the node's replica makes from the question itself.
ROOT_OUTPUT = None


class NodeGraph(RemoteStore, Backend):
    def __init__(self, settings: ServiceSettings, root: str, nodes: Dict[str, DeploymentHandle], edges: Sequence[Sequence[str]] = (),
                 store_node: Optional[str] = None, metrics: QAMetrics = QAMetrics(), readers: Sequence[str] = ()):
        self.settings = settings
        self.metrics = metrics
        self.root = root
        self.names: List[str] = list(nodes)  # as the YAML lists them
        # Without edges (a chain built by hand), each node feeds the next.
        chained = zip([root, *self.names], ["output_1"] * len(self.names), self.names)
        self.edges: List[Tuple[str, str, str]] = [tuple(edge) for edge in edges] or list(chained)
        self.ancestors = {name: self._ancestors(name) for name in self.names}
        self.readers = set(readers)
        self.nodes = nodes
        self.startup = StartupGate(nodes.values())
        super().__init__(nodes[store_node] if store_node else None, self.startup, "no node of the query pipeline reads a document store",
                         settings.write_log)
        self._rules: Optional[ParamsRules] = None

    def _ancestors(self, name: str) -> Set[str]:
        found: Set[str] = set()
        todo = [name]
        while todo:
            current = todo.pop()
            for source, _, target in self.edges:
                if target == current and source not in found:
                    found.add(source)
                    todo.append(source)
        return found

    def next_nodes(self, name: str, edge: Optional[str], leave_out: Set[str] = frozenset()) -> List[str]:
        """Pipeline.get_next_nodes: the nodes after `name` on `edge` (every edge for "output_all"), in edge order."""
        return [target for source, label, target in self.edges
                if source == name and (not edge or label == edge or edge == "output_all") and target not in leave_out]

    async def run(self, query: str, params: Optional[Dict[str, Any]], debug: bool) -> Dict[str, Any]:
        return await self._walk(query, params, debug, leave_out=set())

    async def retrieve(self, query: str, params: Optional[Dict[str, Any]]) -> Dict[str, Any]:
        # The graph without its readers and what comes after them: what a search of the documents runs.
        leave_out = {name for name in self.names if name in self.readers or self.ancestors[name] & self.readers}
        kept = {key: value for key, value in (params or {}).items() if key not in leave_out} or None
        return await self._walk(query, kept, False, leave_out)

    async def _walk(self, query: str, params: Optional[Dict[str, Any]], debug: bool, leave_out: Set[str]) -> Dict[str, Any]:
        await self.startup.check()
        question = {"query": query, "params": params}
        # Pipeline.run's queue: node -> what it is given, the outputs of the nodes before it in the order they were
        # made (ROOT_OUTPUT: the root's, which the node's replica makes from the question). Dicts keep their order.
        queue: Dict[str, List[Any]] = {name: [ROOT_OUTPUT] for name in self.next_nodes(self.root, "output_1", leave_out)}
        asked: Dict[str, "asyncio.Task[Answer]"] = {}
        last: Optional[Tuple[str, Any]] = None
        try:
            while queue:
                ready = [name for name in queue if self.ancestors[name].isdisjoint(queue)]
                for name in ready:  # those that can run now, at once; handed on below in Pipeline.run's order
                    if name not in asked:
                        terminal = not self.next_nodes(name, None, leave_out)
                        asked[name] = asyncio.ensure_future(self._call_node(name, queue[name], question, terminal, debug))
                name = ready[0]
                # A node's refusal (Overloaded: its queue is full) is the service's state: it reaches the client as it is.
                handed, edge = await asked.pop(name)
                queue.pop(name)
                last = (name, handed)
                if edge == "split":
                    for part_edge, part in handed.items():
                        for target in self.next_nodes(name, part_edge, leave_out):
                            queue[target] = [part]
                    continue
                for target in self.next_nodes(name, edge, leave_out):
                    queue.setdefault(target, []).append(handed)
        finally:
            for task in asked.values():  # a node failed: the others' answers are not needed
                task.cancel()
        if last is None:
            raise RuntimeError("the pipeline has no node after its root")
        name, handed = last
        if isinstance(handed, bytes):
            # The last node to run had nodes after it, but its edge led to none of them: its output as the body.
            return raise_refusal(await call_replica(lambda: self.nodes[name].finish.remote(handed, debug), f"node {name}"))
        return handed

    async def _call_node(self, name: str, given: List[Any], question: Dict[str, Any], terminal: bool, debug: bool) -> Answer:
        started = time.perf_counter()
        try:
            # The replica gets a copy of what it is given (serialized), so the same can go to another replica.
            carrier = tracing.carrier()
            answer = await call_replica(lambda: self.nodes[name].run.remote(given, question, self.root, terminal, debug, carrier), f"node {name}")
            return raise_refusal(answer)
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
            "nodes": self.names,
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

        results = await asyncio.gather(*(describe(name) for name in self.names))
        return dict(zip(self.names, results))
