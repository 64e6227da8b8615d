"""Every use of a Haystack 1.x or bm25s internal, in one place.

Haystack's public API loads a YAML only as whole pipelines, each with new components, and runs a pipeline only
as a whole. Sharing components between pipelines, running one node at a time (per-node serving) and joining
the Reader's model calls (batching) need the pieces below; SparseBM25DocumentStore builds bm25s's index itself.
Each is pinned to the versions in pyproject.toml by tests/unit/test_pipeline_internals.py: an upgrade that
changes one fails there first.
"""
import functools
import threading
import time
from typing import Any, Callable, Dict, Tuple

import bm25s
import haystack.document_stores.memory as memory_store_module
import numpy as np
from haystack import Pipeline
from haystack.document_stores import InMemoryDocumentStore
from haystack.nodes import FARMReader
from haystack.nodes.base import BaseComponent
from haystack.pipelines.base import RootNode
from tqdm import tqdm


def load_component(name: str, definitions: Dict[str, dict], components: Dict[str, BaseComponent]) -> BaseComponent:
    """Build component `name` from the YAML's definitions, with the components its parameters name (a
    retriever's document store); `components` holds those built before, which are reused."""
    return Pipeline._load_or_get_component(name=name, definitions=definitions, components=components)


def component_class(type_name: str) -> type:
    """The class a YAML `type:` names, without creating it (Haystack registers every subclass by name)."""
    return BaseComponent._subclasses[type_name]


def run_node(component: BaseComponent, node_input: Dict[str, Any]) -> Tuple[Dict[str, Any], str]:
    """What Pipeline.run does for one node: `run` with the arguments it takes from `node_input` and the node's
    params, plus the debug output. Returns (output, edge)."""
    return component._dispatch_run(**node_input)


def combine_node_outputs(existing_input: Dict[str, Any], node_output: Dict[str, Any]) -> Dict[str, Any]:
    """Pipeline.run's merge of two outputs for a node with several inputs (Pipeline._combine_node_outputs)."""
    return Pipeline._combine_node_outputs(None, existing_input, node_output)  # it reads nothing of the pipeline


def root_node(name: str) -> BaseComponent:
    """The node a query pipeline starts from; Pipeline.add_node names its nodes, and debug output uses the name."""
    root = RootNode()
    root.name = name
    return root


def serialize_queries(store: InMemoryDocumentStore) -> None:
    """InMemoryDocumentStore.query writes each hit's score onto the stored document before copying it, so two
    questions retrieving the same document at once could swap scores: one query at a time keeps them apart.
    Writes (uploads, the shared write log) take the same lock: a query reads the documents and their BM25 index
    in two steps, and a write between them would pair documents with other documents' scores."""
    lock = threading.RLock()  # delete_documents calls get_all_documents
    for name in ("query", "write_documents", "delete_documents", "get_all_documents"):
        setattr(store, name, _locked(getattr(store, name), lock))


def _locked(method: Callable, lock: threading.RLock) -> Callable:
    @functools.wraps(method)
    def locked(*args, **kwargs):
        with lock:
            return method(*args, **kwargs)

    return locked


def silence_bm25_progress_bars() -> None:
    """InMemoryDocumentStore.update_bm25 shows an "Updating BM25 representation..." progress bar on every write,
    whatever the store's `progress_bar` says: it calls the `tqdm` of its module, which this replaces by a silent one."""
    memory_store_module.tqdm = functools.partial(tqdm, disable=True)


def in_memory_document_count(store: InMemoryDocumentStore) -> int:
    """InMemoryDocumentStore.get_document_count deep-copies every document to count them (seconds at 20k passages,
    on every /health); its documents live in `indexes[index]`, keyed by id, so their number is that dict's size."""
    return len(store.indexes.get(store.index, {}))


def route_model_calls(reader: FARMReader, call: Callable[..., list]) -> Callable[..., list]:
    """Send the model calls of `reader.predict` through `call(objects=..., **kwargs)`; returns the original.

    FARMReader.predict prepares (question, passage) pairs, calls the model once through its inferencer's
    `inference_from_objects`, then deduplicates and extracts answers per question. Replacing that one call lets
    concurrent questions share a model call while everything else stays Haystack's.
    """
    original = reader.inferencer.inference_from_objects
    reader.inferencer.inference_from_objects = call
    return original


def time_nodes(pipeline: Pipeline, record: Callable[[str, float], None]) -> None:
    """Call `record(node, seconds)` after each node a run of `pipeline` runs (the root excepted), debug or not.

    Pipeline.run runs every node through `Pipeline._run_node(node_id, node_input)`; Haystack's own timing
    (`exec_time_ms`) exists only in debug output.
    """
    run_node_of_pipeline = pipeline._run_node

    def timed(node_id: str, node_input: Dict[str, Any]) -> Tuple[Dict[str, Any], str]:
        started = time.perf_counter()
        try:
            return run_node_of_pipeline(node_id, node_input)
        finally:
            if node_id != pipeline.root_node:
                record(node_id, time.perf_counter() - started)

    pipeline._run_node = timed


def reader_model(reader: FARMReader) -> "torch.nn.Module":
    """The torch model FARMReader.predict runs (an AdaptiveModel: the language model and the QA head). Its
    inferencer calls `reader.inferencer.model` on every question, so changing that module in place (quantizing
    its Linear layers, halving it) changes what every later question runs."""
    return reader.inferencer.model


# --- bm25s ---

def bm25s_term_weight(method: str) -> Callable[..., np.ndarray]:
    """bm25s's term-frequency weight of a BM25 variant: f(tf_array, l_d, l_avg, k1, b), elementwise."""
    return bm25s.scoring._select_tfc_scorer(method)


def bm25s_idf(method: str) -> Callable[[int, int], float]:
    """bm25s's idf of a BM25 variant: f(document frequency, number of documents)."""
    return bm25s.scoring._select_idf_scorer(method)


def bm25s_index(method: str, k1: float, b: float, matrix: Dict[str, Any], vocab: Dict[str, int]) -> bm25s.BM25:
    """A bm25s index over a weight matrix built elsewhere, in the layout `BM25.index` makes ({"data", "indices",
    "indptr", "num_docs"}: column t holds word t's weight in each document that has it); it only reads the
    matrix to score queries (`get_scores_from_ids`)."""
    bm25 = bm25s.BM25(method=method, k1=k1, b=b)
    bm25.scores = matrix
    bm25.vocab_dict = vocab
    bm25.unique_token_ids_set = set(vocab.values())
    bm25.nonoccurrence_array = None
    return bm25
