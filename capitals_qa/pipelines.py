"""Loading the YAML pipeline a replica serves and filling its document store."""
import inspect
import logging
import os
from pathlib import Path
from typing import Dict, Set

from haystack import Pipeline
from haystack.document_stores import InMemoryDocumentStore

from capitals_qa.documents import JSON_SUFFIXES, DocumentsError, read_records_file
from capitals_qa.settings import ServiceSettings

logger = logging.getLogger("ray.serve")


class StartupError(Exception):
    """The service cannot start; the message says which file or setting is wrong."""


def load_pipeline(settings: ServiceSettings) -> Pipeline:
    """The named pipeline from the YAML file, with `<NODE>_PARAMS_<PARAM>` overrides applied."""
    # Haystack reads the overrides from this process's environment; they were captured where the app was built.
    os.environ.update(settings.node_param_env)
    path = Path(settings.pipeline_yaml)
    if not path.is_file():
        raise StartupError(f"pipeline file {path} does not exist")
    try:
        return Pipeline.load_from_yaml(path, pipeline_name=settings.pipeline_name)
    except Exception as error:
        raise StartupError(f"cannot load pipeline {settings.pipeline_name!r} from {path}: {error}") from error


def fill_document_store(pipeline: Pipeline, documents: str) -> None:
    """Write `documents` into the pipeline's store when it is empty; a store that has documents is left alone."""
    store = pipeline.get_document_store()
    if store is None or not documents or store.get_document_count() > 0:
        return
    path = Path(documents)
    if path.suffix not in JSON_SUFFIXES:
        raise StartupError(f"documents {path}: expected a .json or .jsonl file of {{\"content\", \"meta\"}} records")
    try:
        docs = read_records_file(path)
    except DocumentsError as error:
        raise StartupError(str(error)) from None
    store.write_documents(docs)
    logger.info("Wrote %d documents from %s", len(docs), path)


def document_count(pipeline: Pipeline) -> int:
    store = pipeline.get_document_store()
    return store.get_document_count() if store is not None else 0


def unsupported_parameters(pipeline: Pipeline) -> Dict[str, str]:
    """Parameters the pipeline's nodes accept but ignore, with the reason a client should read."""
    store = pipeline.get_document_store()
    if isinstance(store, InMemoryDocumentStore) and store.use_bm25:
        return {"filters": "InMemoryDocumentStore ignores filters in BM25 retrieval; serve an Elasticsearch pipeline to filter"}
    return {}


def node_parameters(pipeline: Pipeline) -> Dict[str, Set[str]]:
    """Each node (the root excepted) and the parameters its `run` accepts, for checking a request's params."""
    root = pipeline.root_node
    return {
        name: set(inspect.signature(pipeline.get_node(name).run).parameters)
        for name in pipeline.graph.nodes
        if name != root
    }
