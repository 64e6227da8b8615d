"""PipelineNode (per_node mode): one node of the query pipeline per replica, with the document store it reads."""
import functools
import os
from typing import Any, Dict, Optional, Tuple, Union

from haystack.nodes import FARMReader
from ray import serve

from capitals_qa.api.errors import Overloaded
from capitals_qa.pipeline.internals import run_node
from capitals_qa.pipeline.precision import set_reader_precision
from capitals_qa.pipeline.store import document_count, ignored_parameters, make_thread_safe, run_parameters
from capitals_qa.pipeline.yaml_pipelines import YamlPipelines, fill_document_store
from capitals_qa.serving.defaults import ACCESS_LOG_OFF, GRACEFUL_SHUTDOWN, LIGHT_REPLICA
from capitals_qa.serving.refusals import Refusal
from capitals_qa.serving.replica.batching import ReaderBatcher
from capitals_qa.serving.replica.local_store import LocalStore, open_served_store, store_problem_now
from capitals_qa.serving.replica.resources import assigned_cpus, has_gpu
from capitals_qa.serving.replica.start import kept_for_life
from capitals_qa.serving.replica.workers import QueueLimits, TorchWorkers
from capitals_qa.settings import ReaderBatching, ServiceSettings


@serve.deployment(ray_actor_options=LIGHT_REPLICA, max_ongoing_requests=32, logging_config=ACCESS_LOG_OFF, **GRACEFUL_SHUTDOWN)
class PipelineNode(LocalStore):
    def __init__(self, settings: ServiceSettings, node_name: str):
        with kept_for_life():
            # The same time-bounded queue as a Pipeline replica's: a question that would wait past max_queue_wait_s
            # for this node's workers is refused at once (a JSON 503 from the ingress), not queued.
            workers = TorchWorkers(assigned_cpus(), QueueLimits(settings.max_waiting_questions, settings.max_queue_wait_s))
            self.name = node_name
            pipelines = YamlPipelines(settings.pipeline, settings.node_overrides)
            self.component = pipelines.component(node_name)
            store = getattr(self.component, "document_store", None)
            fill_document_store(pipelines, store, settings.documents, settings.store_cache)
            make_thread_safe(store)
            self.reader_precision = set_reader_precision([(node_name, self.component)], settings.reader_precision, has_gpu())
            # Every replica of the node that reads the store follows the shared write log (see pipeline/served_store.py).
            super().__init__(workers, store, open_served_store(pipelines, store, settings), f"node {node_name} holds no document store")
            self.batcher: Optional[ReaderBatcher] = None
            if isinstance(self.component, FARMReader):
                self.batcher = ReaderBatcher(self.component, self.workers)
                self.reconfigure({})

    def reconfigure(self, config: Dict[str, Any]) -> None:
        """The Reader's user_config: {"batching": "auto"|true|false, "max_batch_size": int, "batch_wait_timeout_s": float}."""
        if self.batcher is not None:
            self.batcher.configure(ReaderBatching.parse_obj(config or {}), has_gpu())

    async def run(self, node_input: Dict[str, Any]) -> Union[Tuple[Dict[str, Any], str], Refusal]:
        """What `Pipeline.run` does for this node, with the previous node's output."""
        run = functools.partial(run_node, self.component, node_input)
        try:
            if self.batcher is not None and self.batcher.enabled:
                return await self.batcher.run(run)
            debug = ((node_input.get("params") or {}).get(self.name) or {}).get("debug")
            return await self.workers.run(run, exclusive=bool(debug))
        except Overloaded as refusal:
            return refusal  # returned, not raised: see serving/refusals.py

    async def describe(self) -> Dict[str, Any]:
        problem = await store_problem_now(self.store)
        if problem:
            return {"ready": False, "reason": problem, "pid": os.getpid()}
        info = {
            "ready": True,
            "pid": os.getpid(),
            "cpus": self.workers.cpus,
            "parameters": sorted(run_parameters(self.component)),
            "unsupported_parameters": ignored_parameters(self.store),
            "document_count": document_count(self.store) if self.store is not None else None,
            "queue": self.workers.describe(),
        }
        if precision := self.reader_precision.get(self.name):
            info["reader_precision"] = precision
        if self.batcher is not None:
            info.update(self.batcher.describe())
        return info
