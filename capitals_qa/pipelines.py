"""Loading the pipelines of a YAML file and filling their document store."""
import inspect
import logging
import os
from pathlib import Path
from typing import Dict, Mapping, Optional, Set

from haystack import Pipeline
from haystack.document_stores import BaseDocumentStore, InMemoryDocumentStore
from haystack.nodes.base import BaseComponent
from haystack.pipelines.config import (
    get_component_definitions,
    get_pipeline_definition,
    read_pipeline_config_from_yaml,
    validate_config,
)

import capitals_qa.nodes  # noqa: F401  (makes our node types known to YAML files)
from capitals_qa.documents import JSON_SUFFIXES, DocumentsError, read_records_file
from capitals_qa.settings import ServiceSettings

logger = logging.getLogger("ray.serve")


class StartupError(Exception):
    """The service cannot start; the message says which file or setting is wrong."""


class YamlPipelines:
    """The pipelines of one YAML file, sharing their components.

    Haystack's `Pipeline.load_from_yaml` builds new components for every pipeline it loads; an in-memory
    store must be the same object in the `indexing` pipeline that writes it and the `query` pipeline that
    reads it, and a model should be loaded once.
    """

    def __init__(self, path: Path, node_param_env: Mapping[str, str] = {}):
        # Haystack reads `<NODE>_PARAMS_<PARAM>` overrides from this process's environment.
        os.environ.update(node_param_env)
        self.path = Path(path)
        if not self.path.is_file():
            raise StartupError(f"pipeline file {self.path} does not exist")
        try:
            self.config = read_pipeline_config_from_yaml(self.path)
            validate_config(self.config)
            self._definitions = get_component_definitions(self.config, overwrite_with_env_variables=True)
        except Exception as error:
            raise StartupError(f"cannot read pipelines from {self.path}: {error}") from error
        self._components: Dict[str, BaseComponent] = {}

    @property
    def names(self) -> list:
        return [pipeline["name"] for pipeline in self.config["pipelines"]]

    def load(self, name: str) -> Pipeline:
        pipeline = Pipeline()
        for node in self.nodes(name):
            pipeline.add_node(component=self.component(node["name"]), name=node["name"], inputs=node["inputs"])
        return pipeline

    def nodes(self, pipeline_name: str) -> list:
        """The pipeline's nodes as the YAML lists them: [{"name": ..., "inputs": [...]}, ...]."""
        if pipeline_name not in self.names:
            raise StartupError(f"{self.path} defines no pipeline {pipeline_name!r}; it has {self.names}")
        return get_pipeline_definition(self.config, pipeline_name=pipeline_name)["nodes"]

    def component(self, name: str) -> BaseComponent:
        """One component, with the components its parameters name (a retriever's document store)."""
        try:
            return Pipeline._load_or_get_component(name=name, definitions=self._definitions, components=self._components)
        except Exception as error:
            raise StartupError(self._why_not_loaded(name, error)) from error

    def component_class(self, name: str) -> type:
        """A component's class, without creating it."""
        return BaseComponent._subclasses[self._definitions[name]["type"]]

    def _why_not_loaded(self, name: str, error: Exception) -> str:
        # Haystack's own message for an unreachable Elasticsearch is a paragraph; operators need host and port.
        store = self._definitions.get("DocumentStore", {})
        if "Elasticsearch" in store.get("type", "") and "connection" in str(error).lower():
            params = store.get("params", {})
            where = f"{params.get('host', 'localhost')}:{params.get('port', 9200)}"
            return f"cannot reach Elasticsearch at {where} (set DOCUMENTSTORE_PARAMS_HOST and _PORT to change)"
        return f"cannot load {name!r} of {self.path}: {error}"


def load_pipeline(settings: ServiceSettings) -> Pipeline:
    """The pipeline the service answers with, its store filled from `settings.documents` when empty."""
    pipelines = YamlPipelines(Path(settings.pipeline_yaml), settings.node_param_env)
    query = pipelines.load(settings.pipeline_name)
    fill_document_store(pipelines, query.get_document_store(), settings.documents)
    return query


def fill_document_store(pipelines: YamlPipelines, store: Optional[BaseDocumentStore], documents: Optional[str]) -> None:
    """Fill `store` from `documents` when it is empty; a store that has documents is left alone.

    A .json/.jsonl file holds ready records; .txt files and folders go through the YAML's `indexing` pipeline,
    which must write into this same store (pipelines of one YamlPipelines share their components).
    """
    if store is None or not documents or store.get_document_count() > 0:
        return
    path = Path(documents)
    try:
        if path.suffix in JSON_SUFFIXES:
            docs = read_records_file(path)
            store.write_documents(docs)
            logger.info("Wrote %d documents from %s", len(docs), path)
        else:
            from capitals_qa.indexing import collect_text_files, index_files

            report = index_files(pipelines.load("indexing"), collect_text_files([path]), store=store)
            logger.info("Indexed %s: %s", path, report.summary())
    except (DocumentsError, FileNotFoundError) as error:
        raise StartupError(str(error)) from None


def document_count(store: Optional[BaseDocumentStore]) -> int:
    return store.get_document_count() if store is not None else 0


def unsupported_parameters(store: Optional[BaseDocumentStore]) -> Dict[str, str]:
    """Parameters a store's retriever accepts but ignores, with the reason a client should read."""
    if isinstance(store, InMemoryDocumentStore) and store.use_bm25:
        return {"filters": "InMemoryDocumentStore ignores filters in BM25 retrieval; serve an Elasticsearch pipeline to filter"}
    return {}


def run_parameters(component: BaseComponent) -> Set[str]:
    """The parameters a node's `run` accepts, for checking a request's params."""
    return set(inspect.signature(component.run).parameters)


def node_parameters(pipeline: Pipeline) -> Dict[str, Set[str]]:
    """Each node of a pipeline (the root excepted) and the parameters its `run` accepts."""
    return {name: run_parameters(pipeline.get_node(name)) for name in pipeline.graph.nodes if name != pipeline.root_node}
