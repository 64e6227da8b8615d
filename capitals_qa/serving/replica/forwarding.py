"""The Store methods of a model replica's deployment class, each answered by `self.local`: the LocalPipeline or
LocalNode that the replica's constructor builds. The ingress calls them by these names through a handle.

The deployment classes import the model code (Haystack, torch) in their constructors, in the replica; the process
that builds the application imports the classes only, so their modules, and this one, import nothing heavy.
"""
from typing import Any, Dict, List, Optional, Tuple

from capitals_qa.api.backend import DocumentData, LabelData, Store


class ForwardsStore(Store):
    local: Any  # a LocalStore, set by the constructor

    async def upload(self, files: List[Tuple[str, bytes]], meta: Dict[str, Any], params: Dict[str, Any]) -> Dict[str, Any]:
        return await self.local.upload(files, meta, params)

    async def documents(self, filters: Optional[Dict[str, Any]]) -> List[DocumentData]:
        return await self.local.documents(filters)

    async def delete_documents(self, filters: Optional[Dict[str, Any]]) -> int:
        return await self.local.delete_documents(filters)

    async def write_label(self, label: LabelData) -> None:
        await self.local.write_label(label)

    async def labels(self, filters: Optional[Dict[str, Any]] = None) -> List[LabelData]:
        return await self.local.labels(filters)

    async def delete_labels(self, ids: List[str]) -> None:
        await self.local.delete_labels(ids)

    async def check_health(self) -> None:
        """Serve's periodic replica check: a replica whose store cannot be read fails it, and Serve replaces it."""
        await self.local.check_health()
