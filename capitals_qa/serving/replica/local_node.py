"""LocalNode (per_node mode): one node of the query pipeline in this process, with the document store it reads.

What each replica of a node's deployment is (replica/node_replica.py adds Serve's part). The ingress never
unpacks what flows between nodes: each node but the last answers its output pickled, the next node unpickles it,
and the last answers plain data, as a Pipeline replica does. Imports no Ray.
"""
import copy
import os
import pickle
from typing import Any, Dict, List, Optional, Tuple

from haystack.nodes import FARMReader

from capitals_qa import tracing
from capitals_qa.api.answer_cache import STORE_VERSION
from capitals_qa.pipeline.graph import join_input, run_step
from capitals_qa.pipeline.internals import root_node
from capitals_qa.pipeline.precision import set_reader_precision
from capitals_qa.pipeline.results import query_response
from capitals_qa.pipeline.store import document_count, ignored_parameters, make_thread_safe, run_parameters
from capitals_qa.pipeline.yaml_pipelines import YamlPipelines, fill_document_store
from capitals_qa.serving.replica.batching import ReaderBatcher
from capitals_qa.serving.replica.local_store import LocalStore, open_served_store, store_problem_now
from capitals_qa.serving.replica.workers import TorchWorkers
from capitals_qa.settings import ReaderBatching, ServiceSettings

class LocalNode(LocalStore):
    def __init__(self, settings: ServiceSettings, node_name: str, workers: TorchWorkers, has_gpu: bool):
        self.name = node_name
        pipelines = YamlPipelines(settings.pipeline, settings.node_overrides)
        self.component = pipelines.component(node_name)
        store = getattr(self.component, "document_store", None)
        fill_document_store(pipelines, store, settings.documents, settings.store_cache)
        make_thread_safe(store)
        self.reader_precision = set_reader_precision([(node_name, self.component)], settings.reader_precision, has_gpu)
        # Every replica of the node that reads the store follows the shared write log (see pipeline/served_store.py).
        super().__init__(workers, store, open_served_store(pipelines, store, settings, [self.component]),
                         f"node {node_name} holds no document store")
        self.batcher: Optional[ReaderBatcher] = ReaderBatcher(self.component, workers) if isinstance(self.component, FARMReader) else None

    def configure(self, batching: ReaderBatching, has_gpu: bool) -> None:
        if self.batcher is not None:
            self.batcher.configure(batching, has_gpu)

    async def run(self, given: List[Optional[bytes]], question: Dict[str, Any], root: str, last: bool,
                  debug: bool) -> Tuple[Any, str]:
        """What `Pipeline.run` does for this node, from what it is given: the outputs of the nodes before it, pickled,
        in the order they were made (None: the `root`'s, made here from the question {"query", "params"}). Answers
        (what it hands on, the edge it chose): its output pickled (one part per edge for "split"), or /query's body
        when it is the `last`."""

        def work() -> Tuple[Any, str]:
            # The node that reads the store says the version it read (see LocalPipeline.run); the others pass it on.
            version = self.served_store.applied_version() if self.served_store is not None else None
            with tracing.span(self.name):
                outputs = [run_step(root, root_node(root), {"root_node": root, **copy.deepcopy(question)}, debug)[0]
                           if part is None else pickle.loads(part) for part in given]
                node_input = outputs[0] if len(outputs) == 1 else join_input(outputs, copy.deepcopy(question))
                output, edge = run_step(self.name, self.component, node_input, debug)
            if version is not None:
                output[STORE_VERSION] = version
            elif len(outputs) > 1 and any(STORE_VERSION in o for o in outputs):
                # Joined branches that read stores at different moments: the answer is as old as the oldest.
                output[STORE_VERSION] = min(o[STORE_VERSION] for o in outputs if STORE_VERSION in o)
            if edge == "split":
                return {part_edge: pickle.dumps({**{k: v for k, v in output.items() if not k.startswith("output_")}, "documents": docs},
                                                protocol=pickle.HIGHEST_PROTOCOL)
                        for part_edge, docs in output.items() if part_edge.startswith("output_")}, edge
            if not last:
                return pickle.dumps(output, protocol=pickle.HIGHEST_PROTOCOL), edge
            return self._body(output, debug), edge

        if self.batcher is not None and self.batcher.enabled:
            return await self.batcher.run(work)
        # Haystack keeps a run's debug flag on the node object, so a debug run must not overlap another.
        return await self.workers.run(work, exclusive=debug)

    def finish(self, handed: bytes, debug: bool) -> Dict[str, Any]:
        return self._body(pickle.loads(handed), debug)

    @staticmethod
    def _body(output: Dict[str, Any], debug: bool) -> Dict[str, Any]:
        body = query_response(output, debug)
        return {**body, STORE_VERSION: output[STORE_VERSION]} if STORE_VERSION in output else body

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
