"""What a pipeline and its document store offer a client: node parameters, document count, ignored parameters."""
import inspect
from typing import Dict, Optional, Set

from haystack import Pipeline
from haystack.document_stores import BaseDocumentStore, InMemoryDocumentStore
from haystack.nodes.base import BaseComponent

from capitals_qa.pipeline.internals import in_memory_document_count, serialize_queries
from capitals_qa.pipeline.sparse_bm25 import SparseBM25DocumentStore


def make_thread_safe(store: Optional[BaseDocumentStore]) -> None:
    """Worker threads query the store at once; Haystack's in-memory store needs its queries one at a time
    (SparseBM25DocumentStore never changes stored documents, so it needs no lock)."""
    if isinstance(store, InMemoryDocumentStore) and not isinstance(store, SparseBM25DocumentStore):
        serialize_queries(store)


def document_count(store: Optional[BaseDocumentStore]) -> int:
    if store is None:
        return 0
    if isinstance(store, InMemoryDocumentStore):
        return in_memory_document_count(store)
    return store.get_document_count()


def store_problem(store: Optional[BaseDocumentStore]) -> Optional[str]:
    """Why the store cannot be read now (Elasticsearch down, a database gone), or None when it can.

    Counting documents is the cheapest call every store has that reaches its backend."""
    if store is None or isinstance(store, InMemoryDocumentStore):  # in this process: nothing to reach
        return None
    try:
        store.get_document_count()
    except Exception as error:
        return f"the document store ({type(store).__name__}) cannot be read: {type(error).__name__}: {error}"
    return None


def ignored_parameters(store: Optional[BaseDocumentStore]) -> Dict[str, str]:
    """Parameters a store's retriever accepts but ignores, with the reason a client should read."""
    # SparseBM25DocumentStore honours filters; Haystack's own in-memory BM25 drops them silently.
    if isinstance(store, InMemoryDocumentStore) and store.use_bm25 and not isinstance(store, SparseBM25DocumentStore):
        return {"filters": "InMemoryDocumentStore ignores filters in BM25 retrieval; serve an Elasticsearch pipeline to filter"}
    return {}


def run_parameters(component: BaseComponent) -> Set[str]:
    """The parameters a node's `run` accepts, for checking a request's params."""
    return set(inspect.signature(component.run).parameters)


def node_parameters(pipeline: Pipeline) -> Dict[str, Set[str]]:
    """Each node of a pipeline (the root excepted) and the parameters its `run` accepts."""
    return {name: run_parameters(pipeline.get_node(name)) for name in pipeline.graph.nodes if name != pipeline.root_node}
