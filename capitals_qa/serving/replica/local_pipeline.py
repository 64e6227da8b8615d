"""LocalPipeline: the API's Backend over the whole query pipeline in this process, run on worker threads.

What each replica of the `Pipeline` deployment is (replica/pipeline_replica.py adds Serve's part), and what the
tests and benchmarks run in their own process. Imports no Ray.
"""
import os
from typing import Any, Callable, Dict, List, Optional

from haystack.nodes import FARMReader

from capitals_qa import tracing
from capitals_qa.api.answer_cache import STORE_VERSION
from capitals_qa.api.backend import Backend, ParamsRules
from capitals_qa.api.errors import Overloaded, Unavailable
from capitals_qa.api.metrics import QAMetrics
from capitals_qa.pipeline.internals import time_nodes
from capitals_qa.pipeline.precision import pipeline_nodes, set_reader_precision
from capitals_qa.pipeline.results import query_response
from capitals_qa.pipeline.store import document_count, ignored_parameters, make_thread_safe, node_parameters
from capitals_qa.pipeline.yaml_pipelines import load_served_pipelines
from capitals_qa.serving.replica.local_store import LocalStore, open_served_store, store_problem_now
from capitals_qa.serving.replica.workers import TorchWorkers
from capitals_qa.settings import ServiceSettings


class LocalPipeline(LocalStore, Backend):
    def __init__(self, settings: ServiceSettings, workers: TorchWorkers, has_gpu: bool, metrics: QAMetrics = QAMetrics()):
        self.settings = settings
        pipelines, self.pipeline = load_served_pipelines(*settings.pipeline_source)
        self.readers = {name for name, component in pipeline_nodes(self.pipeline) if isinstance(component, FARMReader)}
        self.retrieval = pipelines.load(settings.pipeline_name, leave_out=self.readers)
        self.reader_precision = set_reader_precision(pipeline_nodes(self.pipeline), settings.reader_precision, has_gpu)

        def node_ran(node: str, seconds: float) -> None:
            metrics.node_latency(node, seconds)
            tracing.span_ended_now(node, seconds)  # a child of the replica's span: see replica/workers.py

        time_nodes(self.pipeline, node_ran)
        time_nodes(self.retrieval, tracing.span_ended_now)
        store = self.pipeline.get_document_store()
        make_thread_safe(store)
        self.rules = ParamsRules(node_parameters(self.pipeline), ignored_parameters(store))
        super().__init__(workers, store, open_served_store(pipelines, store, settings, [node for _, node in pipeline_nodes(self.pipeline)]),
                         "the query pipeline reads no document store")

    async def run(self, query: str, params: Optional[Dict[str, Any]], debug: bool,
                  on_worker: Callable[[], None] = lambda: None) -> Dict[str, Any]:
        """`on_worker` is called on the worker thread as the question starts there (after its wait in the queue)."""

        def run() -> Dict[str, Any]:
            on_worker()
            # Read before the run: whatever the store applies meanwhile, the answer is at least this recent.
            version = self.served_store.applied_version() if self.served_store is not None else None
            body = query_response(self.pipeline.run(query=query, params=params, debug=debug), debug)
            return body if version is None else {**body, STORE_VERSION: version}

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

    async def retrieve(self, query: str, params: Optional[Dict[str, Any]]) -> Dict[str, Any]:
        kept = {key: value for key, value in (params or {}).items() if key not in self.readers} or None
        return await self.workers.run(lambda: query_response(self.retrieval.run(query=query, params=kept), False))

    async def store_version(self) -> Optional[int]:
        return self.served_store.logged_version() if self.served_store is not None else None

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
