"""Loading the pipelines of a YAML file with shared components, and filling the store the query pipeline reads."""
import logging
from pathlib import Path
from typing import Collection, Dict, List, Mapping, Optional, Tuple

from haystack import Pipeline
from haystack.document_stores import BaseDocumentStore
from haystack.nodes.base import BaseComponent
from haystack.pipelines.config import (
    get_component_definitions,
    get_pipeline_definition,
    read_pipeline_config_from_yaml,
    validate_config,
)

import capitals_qa.pipeline.nodes  # noqa: F401  (makes our node types known to YAML files)
from capitals_qa.pipeline.documents import DocumentsError, attach_embeddings, embeddings_beside, is_records_file, read_records_file
from capitals_qa.pipeline.internals import component_class, load_component
from capitals_qa.pipeline.plan import StartupError
from capitals_qa.pipeline.indexing import collect_text_files, index_files
from capitals_qa.pipeline.snapshot import (
    SnapshotError,
    can_snapshot,
    cache_path,
    is_snapshot_file,
    load_snapshot,
    save_snapshot,
    snapshot_key,
)
from capitals_qa.pipeline.sparse_bm25 import SparseBM25DocumentStore

logger = logging.getLogger(__name__)


class YamlPipelines:
    """The pipelines of one YAML file, sharing their components.

    Haystack's `Pipeline.load_from_yaml` builds new components for every pipeline it loads; an in-memory
    store must be the same object in the `indexing` pipeline that writes it and the `query` pipeline that
    reads it, and a model should be loaded once. `overrides` are `<NODE>_PARAMS_<PARAM>` values, applied as
    Haystack applies them from the environment, but passed explicitly so a replica gets those of the process
    that built the app.
    """

    def __init__(self, path: Path, overrides: Mapping[str, str] = {}):
        self.path = Path(path)
        if not self.path.is_file():
            raise StartupError(f"pipeline file {self.path} does not exist")
        try:
            self.config = read_pipeline_config_from_yaml(self.path)
            validate_config(self.config)
            self._definitions = get_component_definitions(self.config, overwrite_with_env_variables=False)
        except Exception as error:
            raise StartupError(f"cannot read pipelines from {self.path}: {error}") from error
        _apply_overrides(self._definitions, overrides)
        self._components: Dict[str, BaseComponent] = {}

    @property
    def names(self) -> List[str]:
        return [pipeline["name"] for pipeline in self.config["pipelines"]]

    def load(self, name: str, replace: Mapping[str, BaseComponent] = {}, leave_out: Collection[str] = ()) -> Pipeline:
        """Pipeline `name`, with the nodes named in `replace` played by the components given there, and without the
        nodes named in `leave_out` (which nothing may follow)."""
        pipeline = Pipeline()
        for node in self.nodes(name):
            if node["name"] in leave_out:
                continue
            component = replace.get(node["name"]) or self.component(node["name"])
            pipeline.add_node(component=component, name=node["name"], inputs=node["inputs"])
        return pipeline

    def store_node(self, pipeline_name: str) -> Optional[str]:
        """The node of a pipeline that takes its writes: the first that reads a document store, a dense retriever
        before the others (it embeds uploaded passages); None if no node reads one."""
        readers = [node["name"] for node in self.nodes(pipeline_name)
                   if "document_store" in self._definitions.get(node["name"], {}).get("params", {})]
        dense = [name for name in readers if hasattr(self.component_class(name), "embed_documents")]
        return (dense or readers or [None])[0]

    def nodes(self, pipeline_name: str) -> List[dict]:
        """The pipeline's nodes as the YAML lists them: [{"name": ..., "inputs": [...]}, ...]."""
        if pipeline_name not in self.names:
            raise StartupError(f"{self.path} defines no pipeline {pipeline_name!r}; it has {self.names}")
        return get_pipeline_definition(self.config, pipeline_name=pipeline_name)["nodes"]

    def component(self, name: str) -> BaseComponent:
        """One component, with the components its parameters name (a retriever's document store)."""
        try:
            return load_component(name, self._definitions, self._components)
        except Exception as error:
            raise StartupError(self._why_not_loaded(name, error)) from error

    def indexing_definitions(self) -> Optional[List[dict]]:
        """The component definitions of the `indexing` pipeline's nodes, the store excepted: what passages it makes."""
        if "indexing" not in self.names:
            return None
        names = [node["name"] for node in self.nodes("indexing")]
        return [self._definitions[name] for name in names if not issubclass(self.component_class(name), BaseDocumentStore)]

    def definition(self, name: str) -> dict:
        """A component's YAML definition ({"type", "params"}), overrides applied."""
        return self._definitions[name]

    def component_class(self, name: str) -> type:
        """A component's class, without creating it."""
        return component_class(self._definitions[name]["type"])

    def _why_not_loaded(self, name: str, error: Exception) -> str:
        # Haystack's own message for an unreachable Elasticsearch is a paragraph; operators need host and port.
        store = self._definitions.get("DocumentStore", {})
        if "Elasticsearch" in store.get("type", "") and "connection" in str(error).lower():
            params = store.get("params", {})
            where = f"{params.get('host', 'localhost')}:{params.get('port', 9200)}"
            return f"cannot reach Elasticsearch at {where} (set DOCUMENTSTORE_PARAMS_HOST and _PORT to change)"
        return f"cannot load {name!r} of {self.path}: {error}"


def _apply_overrides(definitions: Dict[str, dict], overrides: Mapping[str, str]) -> None:
    for name, definition in definitions.items():
        prefix = f"{name.upper()}_PARAMS_"
        for key, value in overrides.items():
            if key.startswith(prefix):
                definition.setdefault("params", {})[key[len(prefix):].lower()] = value
                logger.info("%s of %s set by %s", key[len(prefix):].lower(), name, key)


def load_served_pipelines(
    pipeline_yaml: str,
    pipeline_name: str,
    documents: Optional[str],
    overrides: Mapping[str, str] = {},
    cache_dir: Optional[str] = None,
) -> Tuple["YamlPipelines", Pipeline]:
    """The YAML's pipelines (for its indexing pipeline) and the query pipeline the service answers with, its store
    filled from `documents` when empty: how every replica, benchmark and tool loads the served pipeline."""
    pipelines = YamlPipelines(Path(pipeline_yaml), overrides)
    query = pipelines.load(pipeline_name)
    fill_document_store(pipelines, query.get_document_store(), documents, cache_dir)
    return pipelines, query


def fill_document_store(
    pipelines: YamlPipelines, store: Optional[BaseDocumentStore], documents: Optional[str], cache_dir: Optional[str] = None
) -> None:
    """Fill `store` from `documents` when it is empty; a store that has documents is left alone.

    `documents` is a store snapshot (.store.npz, see pipeline/snapshot.py), a .json/.jsonl/.jsonl.gz file of ready
    records, or .txt files and folders, which go through the YAML's `indexing` pipeline (it must write into this
    same store: pipelines of one YamlPipelines share their components). A SparseBM25DocumentStore filled from a
    corpus is snapshotted into `cache_dir`, and later starts load that snapshot instead.
    """
    if store is None or not documents or store.get_document_count() > 0:
        return
    path = Path(documents)
    try:
        if is_snapshot_file(path):
            _load_named_snapshot(store, path)
        elif can_snapshot(store) and cache_dir:
            _fill_through_cache(pipelines, store, path, Path(cache_dir))
        else:
            _write_from_source(pipelines, store, path)
    except (DocumentsError, FileNotFoundError) as error:
        raise StartupError(str(error)) from None


def _load_named_snapshot(store: BaseDocumentStore, path: Path) -> None:
    # A snapshot the user named is served as it is, or not at all.
    if not can_snapshot(store):
        raise StartupError(f"{path} is a store snapshot; only SparseBM25DocumentStore loads snapshots")
    try:
        load_snapshot(store, path)
    except SnapshotError as error:
        raise StartupError(f"{error}; rebuild it with `capitals-index ... --save {path}`") from None


def _fill_through_cache(pipelines: YamlPipelines, store: SparseBM25DocumentStore, source: Path, cache_dir: Path) -> None:
    if not source.exists():
        raise FileNotFoundError(f"no such file or folder: {source}")
    key = snapshot_key(store, source, None if is_records_file(source) else pipelines.indexing_definitions())
    cached = cache_path(cache_dir, source, key)
    if cached.exists():
        try:
            load_snapshot(store, cached, key)
            return
        except SnapshotError as error:
            logger.warning("%s: building it again", error)
    _write_from_source(pipelines, store, source)
    try:
        save_snapshot(store, cached, key, source=str(source))
    except OSError as error:
        # Serving still works: later starts index again until the cache folder is writable.
        logger.warning("cannot save a store snapshot to %s (%s); set STORE_CACHE_DIR to a writable folder", cached, error)


def _write_from_source(pipelines: YamlPipelines, store: BaseDocumentStore, path: Path) -> None:
    if is_records_file(path):
        docs = read_records_file(path)
        embeddings = attach_embeddings(docs, path) if getattr(store, "use_embeddings", False) else None
        if getattr(store, "use_embeddings", False) and embeddings is None:
            logger.warning("No embeddings beside %s (%s): dense retrieval finds none of its documents until they are "
                           "embedded (data/make_embeddings.py)", path, embeddings_beside(path).name)
        store.write_documents(docs)
        logger.info("Wrote %d documents from %s%s", len(docs), path, f" with the embeddings of {embeddings}" if embeddings else "")
    else:
        report = index_files(pipelines.load("indexing"), collect_text_files([path]), store=store)
        logger.info("Indexed %s: %s", path, report.summary())
