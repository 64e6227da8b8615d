"""The two backends the ingress can hold: the whole pipeline in the replica, or a chain of node deployments."""
import asyncio
import functools
import os
import time
from abc import abstractmethod
from typing import Any, Callable, Dict, List, Optional, Tuple

from haystack import Pipeline
from haystack.document_stores import BaseDocumentStore
from haystack.schema import Document, Label
from ray.serve.handle import DeploymentHandle

from capitals_qa.api.backend import Backend, Overloaded, ParamsRules, Unavailable
from capitals_qa.api.metrics import QAMetrics
from capitals_qa.pipeline.haystack_internals import time_nodes
from capitals_qa.pipeline.chain import run_chain
from capitals_qa.pipeline.precision import pipeline_nodes, set_reader_precision
from capitals_qa.pipeline.served_store import ServedStore, UploadedFile
from capitals_qa.pipeline.store import document_count, ignored_parameters, make_thread_safe, node_parameters, store_problem
from capitals_qa.pipeline.yaml_pipelines import YamlPipelines, load_served_pipelines
from capitals_qa.serving.defaults import has_gpu
from capitals_qa.serving.full_until_answer import FullUntilAnswer
from capitals_qa.serving.refusals import raise_refusal
from capitals_qa.serving.retry import call_replica
from capitals_qa.serving.startup import StartupGate
from capitals_qa.serving.workers import TorchWorkers
from capitals_qa.settings import ServiceSettings


def served_pipelines(settings: ServiceSettings) -> Tuple[YamlPipelines, Pipeline]:
    """The YAML's pipelines and the query pipeline the settings name, its store filled from `settings.documents`."""
    return load_served_pipelines(
        settings.pipeline, settings.pipeline_name, settings.documents, settings.node_overrides, settings.store_cache
    )


def load_served_pipeline(settings: ServiceSettings) -> Pipeline:
    """The query pipeline the settings name, its store filled from `settings.documents` when empty."""
    return served_pipelines(settings)[1]


# A store that does not answer within this is as good as down for a client (Elasticsearch's own timeout is 30 s).
STORE_CHECK_TIMEOUT_S = 5.0


async def store_problem_now(store: Optional[BaseDocumentStore]) -> Optional[str]:
    """store_problem on a thread of its own (not a worker: never behind questions), bounded in time."""
    try:
        return await asyncio.wait_for(asyncio.to_thread(store_problem, store), STORE_CHECK_TIMEOUT_S)
    except asyncio.TimeoutError:
        return f"the document store ({type(store).__name__}) did not answer within {STORE_CHECK_TIMEOUT_S} s"




def open_served_store(pipelines: YamlPipelines, store: BaseDocumentStore, settings: ServiceSettings) -> ServedStore:
    """The replica's access to its store for uploads, deletes and feedback, following the shared write log."""
    served = ServedStore(pipelines, store, settings.indexing_pipeline_name, settings.write_log, settings.feedback_db)
    served.follow()
    return served


STORE_METHODS = ("upload", "documents", "delete", "write_label", "labels", "delete_labels")


class StoreMethods(Backend):
    """The store endpoints over `_store(method, *args)`: a ServedStore method run where the store is."""

    @abstractmethod
    async def _store(self, method: str, *args: Any) -> Any: ...

    async def upload(self, files: List[Tuple[str, bytes]], meta: Dict[str, Any], params: Dict[str, Any]) -> Dict[str, Any]:
        return await self._store("upload", [UploadedFile(name, data) for name, data in files], meta, params)

    async def documents(self, filters: Optional[Dict[str, Any]]) -> List[Document]:
        return await self._store("documents", filters)

    async def delete_documents(self, filters: Optional[Dict[str, Any]]) -> None:
        await self._store("delete", filters)

    async def write_label(self, label: Label) -> None:
        await self._store("write_label", label)

    async def labels(self, filters: Optional[Dict[str, Any]] = None) -> List[Label]:
        return await self._store("labels", filters)

    async def delete_labels(self, ids: List[str]) -> None:
        await self._store("delete_labels", ids)


class LocalPipeline(StoreMethods):
    """single mode, in each replica of the Pipeline deployment: the whole pipeline, run on worker threads."""

    def __init__(self, settings: ServiceSettings, workers: TorchWorkers, metrics: QAMetrics = QAMetrics()):
        self.settings = settings
        self.workers = workers
        pipelines, self.pipeline = served_pipelines(settings)
        self.reader_precision = set_reader_precision(pipeline_nodes(self.pipeline), settings.reader_precision, has_gpu())
        time_nodes(self.pipeline, metrics.node_latency)
        self.store = self.pipeline.get_document_store()
        make_thread_safe(self.store)
        self.rules = ParamsRules(node_parameters(self.pipeline), ignored_parameters(self.store))
        self.served_store = open_served_store(pipelines, self.store, settings) if self.store is not None else None

    async def _store(self, method: str, *args: Any) -> Any:
        if self.served_store is None:
            raise NotImplementedError(f"{method} (the query pipeline reads no document store)")
        return await self.workers.run(functools.partial(getattr(self.served_store, method), *args))

    async def run(self, query: str, params: Optional[Dict[str, Any]], debug: bool,
                  on_worker: Callable[[], None] = lambda: None) -> Dict[str, Any]:
        """`on_worker` is called on the worker thread as the question starts there (after its wait in the queue)."""

        def run() -> Dict[str, Any]:
            on_worker()
            return self.pipeline.run(query=query, params=params, debug=debug)

        try:
            # Haystack keeps a run's debug flag on the node objects, so a debug run must not overlap another.
            return await self.workers.run(run, exclusive=debug)
        except Overloaded:
            raise
        except Exception as error:
            # A store that cannot be read is the service's outage, not this question's fault: a 503 that says so.
            problem = await store_problem_now(self.store)
            if problem:
                raise Unavailable(problem) from error
            raise

    async def params_rules(self) -> ParamsRules:
        return self.rules

    async def problems(self) -> List[str]:
        problem = await store_problem_now(self.store)
        return [problem] if problem else []

    async def describe(self) -> Dict[str, Any]:
        return {
            "mode": "single",
            "pid": os.getpid(),
            "pipeline": self.settings.pipeline_name,
            "pipeline_yaml": self.settings.pipeline,
            "nodes": list(self.rules.node_parameters),
            "document_count": document_count(self.store),
            "reader_precision": self.reader_precision,
            "queue": self.workers.describe(),
        }


class RemotePipeline(StoreMethods):
    """single mode, in the ingress: each question goes to a replica of the Pipeline deployment (a LocalPipeline
    there), and again to another replica if that one dies holding it (serving/retry.py). Store writes are not
    sent twice: they go to one replica, as a request."""

    def __init__(self, pipeline: DeploymentHandle):
        self.pipeline = pipeline
        self.startup = StartupGate([pipeline])
        # While the replicas are full, the next questions are refused here, not at a cost on the model's cores.
        self.full: FullUntilAnswer[Overloaded] = FullUntilAnswer()
        self._rules: Optional[ParamsRules] = None

    async def _store(self, method: str, *args: Any) -> Any:
        await self.startup.check()
        return await self.pipeline.store_call.remote(method, *args)

    async def run(self, query: str, params: Optional[Dict[str, Any]], debug: bool) -> Dict[str, Any]:
        await self.startup.check()
        if refused := self.full.refusal():
            last, left_s = refused
            raise Overloaded(last.messages[0], left_s)
        with self.full.sent():
            result = await call_replica(lambda: self.pipeline.run.remote(query, params, debug), "a question")
        if isinstance(result, Overloaded):
            self.full.saw(result, result.retry_after_s)
        return raise_refusal(result)

    async def params_rules(self) -> ParamsRules:
        if self._rules is None:
            await self.startup.check()
            self._rules = await call_replica(lambda: self.pipeline.params_rules.remote(), "params_rules")
        return self._rules

    async def problems(self) -> List[str]:
        if starting := await self.startup.not_started():
            return [starting]
        # As long as a replica's store may take to answer, and a little longer: a busy replica is not down.
        timeout_s = STORE_CHECK_TIMEOUT_S + 1
        try:
            return await asyncio.wait_for(call_replica(lambda: self.pipeline.problems.remote(), "problems"), timeout_s)
        except asyncio.TimeoutError:
            return [f"no Pipeline replica answered within {timeout_s} s"]

    async def describe(self) -> Dict[str, Any]:
        await self.startup.check()
        return await call_replica(lambda: self.pipeline.describe.remote(), "describe")


class NodeChain(StoreMethods):
    """per_node mode: each question walks the chain of node deployments (see pipeline/chain.py); uploads,
    documents and feedback go to the node that holds the store (the Retriever)."""

    def __init__(self, settings: ServiceSettings, root: str, nodes: Dict[str, DeploymentHandle], store_node: Optional[str] = None,
                 metrics: QAMetrics = QAMetrics()):
        self.settings = settings
        self.metrics = metrics
        self.root = root
        self.chain: List[str] = list(nodes)  # in the order data flows
        self.nodes = nodes
        self.store_node = store_node
        self.startup = StartupGate(nodes.values())
        self._rules: Optional[ParamsRules] = None

    async def _store(self, method: str, *args: Any) -> Any:
        if self.store_node is None:
            raise NotImplementedError(f"{method} (no node of the query pipeline reads a document store)")
        await self.startup.check()
        return await self.nodes[self.store_node].store_call.remote(method, *args)

    async def run(self, query: str, params: Optional[Dict[str, Any]], debug: bool) -> Dict[str, Any]:
        await self.startup.check()
        # A node's refusal (Overloaded: its queue is full) is the service's state: it reaches the client as it is.
        return await run_chain(self.root, self.chain, self._call_node, query, params, debug, pass_through=(Overloaded, Unavailable))

    async def _call_node(self, name: str, node_input: Dict[str, Any]):
        started = time.perf_counter()
        try:
            # The replica got a copy of node_input (serialized), so the same input can go to another replica.
            return raise_refusal(await call_replica(lambda: self.nodes[name].run.remote(node_input), f"node {name}"))
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
        # As long as a store may take to answer (STORE_CHECK_TIMEOUT_S), and a little longer: a node that is
        # merely busy is not down.
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
