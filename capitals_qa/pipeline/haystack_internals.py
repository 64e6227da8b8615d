"""Every use of a Haystack 1.x internal, in one place.

Haystack's public API loads a YAML only as whole pipelines, each with new components, and runs a pipeline only
as a whole. Sharing components between pipelines, running one node at a time (per-node serving) and joining
the Reader's model calls (batching) need the pieces below. Each is pinned to the Haystack version in
pyproject.toml by tests/unit/test_haystack_internals.py: a Haystack upgrade that changes one fails there first.
"""
import functools
import threading
import time
from typing import Any, Callable, Dict, Tuple

from haystack import Pipeline
from haystack.document_stores import InMemoryDocumentStore
from haystack.nodes import FARMReader
from haystack.nodes.base import BaseComponent
from haystack.pipelines.base import RootNode


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


def root_node(name: str) -> BaseComponent:
    """The node a query pipeline starts from; Pipeline.add_node names its nodes, and debug output uses the name."""
    root = RootNode()
    root.name = name
    return root


def serialize_queries(store: InMemoryDocumentStore) -> None:
    """InMemoryDocumentStore.query writes each hit's score onto the stored document before copying it, so two
    questions retrieving the same document at once could swap scores: one query at a time keeps them apart."""
    lock = threading.Lock()
    query = store.query

    @functools.wraps(query)
    def locked_query(*args, **kwargs):
        with lock:
            return query(*args, **kwargs)

    store.query = locked_query


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
