"""The API's Store interface over the document store of this process, each call on the replica's worker threads.

A Pipeline replica (single mode) and the per-node replica that holds the store both serve it, and the ingress
calls their methods of the same names through a handle (serving/ingress/remote_store.py). Imports no Ray.
"""
import asyncio
import functools
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

from haystack.document_stores import BaseDocumentStore

from capitals_qa.api.backend import DocumentData, LabelData, Store
from capitals_qa.pipeline.served_store import ServedStore
from capitals_qa.pipeline.store import store_problem
from capitals_qa.pipeline.yaml_pipelines import YamlPipelines
from capitals_qa.serving.defaults import STORE_CHECK_TIMEOUT_S
from capitals_qa.serving.replica.workers import TorchWorkers
from capitals_qa.settings import ServiceSettings


async def store_problem_now(store: Optional[BaseDocumentStore]) -> Optional[str]:
    """store_problem on a thread of its own (not a worker: never behind questions), bounded in time."""
    try:
        return await asyncio.wait_for(asyncio.to_thread(store_problem, store), STORE_CHECK_TIMEOUT_S)
    except asyncio.TimeoutError:
        return f"the document store ({type(store).__name__}) did not answer within {STORE_CHECK_TIMEOUT_S} s"


def open_served_store(pipelines: YamlPipelines, store: Optional[BaseDocumentStore], settings: ServiceSettings,
                      components: Iterable[Any] = ()) -> Optional[ServedStore]:
    """The replica's access to its store for uploads, deletes and feedback, following the shared write log.
    `components`: the nodes in this process; a dense retriever among them over `store` embeds uploads."""
    if store is None:
        return None
    embedder = next((c for c in components if hasattr(c, "embed_documents") and getattr(c, "document_store", None) is store), None)
    served = ServedStore(pipelines, store, settings.indexing_pipeline_name, settings.write_log, settings.feedback_db, embedder)
    served.follow()
    return served


class LocalStore(Store):
    def __init__(self, workers: TorchWorkers, store: Optional[BaseDocumentStore], served_store: Optional[ServedStore], no_store: str):
        """`no_store`: why there is none (`served_store` None), for the 501 of a deployment without one."""
        self.workers = workers
        self.store = store
        self.served_store = served_store
        self._no_store = no_store

    async def upload(self, files: List[Tuple[str, bytes]], meta: Dict[str, Any], params: Dict[str, Any]) -> Dict[str, Any]:
        return await self._on_worker(ServedStore.upload, files, meta, params)

    async def documents(self, filters: Optional[Dict[str, Any]]) -> List[DocumentData]:
        return await self._on_worker(ServedStore.documents, filters)

    async def delete_documents(self, filters: Optional[Dict[str, Any]]) -> int:
        return await self._on_worker(ServedStore.delete_documents, filters)

    async def write_label(self, label: LabelData) -> None:
        await self._on_worker(ServedStore.write_label, label)

    async def labels(self, filters: Optional[Dict[str, Any]] = None) -> List[LabelData]:
        return await self._on_worker(ServedStore.labels, filters)

    async def delete_labels(self, ids: List[str]) -> None:
        await self._on_worker(ServedStore.delete_labels, ids)

    async def check_health(self) -> None:
        """Serve's periodic replica check: a replica whose store cannot be read fails it, and Serve replaces it."""
        problem = await store_problem_now(self.store)
        if problem:
            raise RuntimeError(problem)

    async def _on_worker(self, method: Callable[..., Any], *args: Any) -> Any:
        if self.served_store is None:
            raise NotImplementedError(f"{method.__name__} ({self._no_store})")
        return await self.workers.run(functools.partial(method, self.served_store, *args))
