"""The API's Store interface in the ingress: each call made on the deployment that holds the store (a Pipeline
replica, or the per-node replica of the node that reads the store), whose methods have the same names
(serving/replica/local_store.py)."""
from typing import Any, Dict, List, Optional, Tuple

from ray.serve.handle import DeploymentHandle

from capitals_qa.api.backend import DocumentData, LabelData, Store
from capitals_qa.pipeline.write_log import last_seq_of
from capitals_qa.serving.ingress.retry import call_replica
from capitals_qa.serving.ingress.startup import StartupGate


class RemoteStore(Store):
    def __init__(self, store: Optional[DeploymentHandle], startup: StartupGate, no_store: str, write_log: Optional[str]):
        """`store`: None where no deployment holds one (`no_store` says why, for the 501). `write_log`: the shared
        log the replicas of an in-memory store follow (settings.write_log)."""
        self._store = store
        self._startup = startup
        self._no_store = no_store
        self._write_log = write_log

    async def store_version(self) -> Optional[int]:
        """The log's last entry, read here: asking a replica would cost the hop an answer cache hit saves."""
        return last_seq_of(self._write_log) if self._write_log else None

    # Reads are asked again of another replica if theirs dies; writes are sent once, never twice.

    async def upload(self, files: List[Tuple[str, bytes]], meta: Dict[str, Any], params: Dict[str, Any]) -> Dict[str, Any]:
        return await self._write(lambda store: store.upload.remote(files, meta, params), "upload")

    async def documents(self, filters: Optional[Dict[str, Any]]) -> List[DocumentData]:
        return await self._read(lambda store: store.documents.remote(filters), "documents")

    async def delete_documents(self, filters: Optional[Dict[str, Any]]) -> int:
        return await self._write(lambda store: store.delete_documents.remote(filters), "delete_documents")

    async def write_label(self, label: LabelData) -> None:
        await self._write(lambda store: store.write_label.remote(label), "write_label")

    async def labels(self, filters: Optional[Dict[str, Any]] = None) -> List[LabelData]:
        return await self._read(lambda store: store.labels.remote(filters), "labels")

    async def delete_labels(self, ids: List[str]) -> None:
        await self._write(lambda store: store.delete_labels.remote(ids), "delete_labels")

    async def _read(self, call, what: str) -> Any:
        store = await self._ready(what)
        return await call_replica(lambda: call(store), what)

    async def _write(self, call, what: str) -> Any:
        store = await self._ready(what)
        return await call_replica(lambda: call(store), what, attempts=1)

    async def _ready(self, what: str) -> DeploymentHandle:
        if self._store is None:
            raise NotImplementedError(f"{what} ({self._no_store})")
        await self._startup.check()
        return self._store
