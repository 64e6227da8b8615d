"""Reading and changing the served document store: uploads through the YAML's indexing pipeline, filtered reads
and deletes, feedback labels, and one truth across replicas for in-memory stores. Its methods take and return
plain data (the API's `Store` interface, run synchronously).

An in-memory store (InMemoryDocumentStore, SparseBM25DocumentStore) lives in each replica's memory. Its
writes go to the shared write log (write_log.py) and every replica applies the log in order: the one that
took the request at once, the others when they next poll it (every `POLL_INTERVAL_S`). A store of its own
(Elasticsearch) is written directly: every replica already reads the same one.
"""
import logging
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from haystack.document_stores import BaseDocumentStore, InMemoryDocumentStore
from haystack.errors import HaystackError
from haystack.nodes import BaseConverter, BasePreProcessor
from haystack.schema import Document

from capitals_qa.pipeline.feedback import labels_for
from capitals_qa.pipeline.indexing import problem_with_text
from capitals_qa.pipeline.nodes import WordWindowSplitter
from capitals_qa.pipeline.results import document_to_dict, label_from_request, label_to_dict
from capitals_qa.pipeline.sparse_bm25 import check_operators, quantized
from capitals_qa.pipeline.store import run_parameters
from capitals_qa.pipeline.write_log import LoggedWrite, WriteLog
from capitals_qa.pipeline.yaml_pipelines import YamlPipelines

logger = logging.getLogger(__name__)

POLL_INTERVAL_S = 0.5
# Haystack REST's /file-upload form fields, and the nodes they are meant for.
CONVERTER_PARAMS = ("remove_numeric_tables", "valid_languages")
PREPROCESSOR_PARAMS = ("clean_whitespace", "clean_empty_lines", "clean_header_footer", "split_by", "split_length",
                       "split_overlap", "split_respect_sentence_boundary")


@dataclass(frozen=True)
class UploadedFile:
    name: str
    data: bytes


class ServedStore:
    def __init__(self, pipelines: YamlPipelines, store: BaseDocumentStore, indexing_pipeline: str,
                 write_log: Optional[str], feedback_db: Optional[str], embedder: Optional[Any] = None):
        """`embedder`: a dense retriever of this process over `store`: uploaded passages are embedded once, here,
        and the write log carries their embeddings to every other replica."""
        self.pipelines = pipelines
        self.store = store
        self.embedder = embedder if getattr(store, "use_embeddings", False) else None
        self.indexing_pipeline = indexing_pipeline
        self.log = WriteLog(write_log) if write_log and isinstance(store, InMemoryDocumentStore) else None
        self.feedback = labels_for(store, feedback_db)
        self.applied = 0  # the last log entry this replica's store holds
        self._applying = threading.Lock()
        self._following: Optional[threading.Thread] = None

    # --- following the log ----------------------------------------------------------------------------

    def follow(self, interval_s: float = POLL_INTERVAL_S) -> None:
        """Apply the log now (a replica starting late replays everything), then keep polling it in the background."""
        if self.log is None:
            return
        self.catch_up()
        self._following = threading.Thread(target=self._poll, args=(interval_s,), name="write-log", daemon=True)
        self._following.start()

    def _poll(self, interval_s: float) -> None:
        while True:
            time.sleep(interval_s)
            try:
                self.catch_up()
            except Exception:  # a locked or briefly missing file: try again next time, keep serving
                logger.exception("cannot apply the write log %s", self.log.path)

    def applied_version(self) -> Optional[int]:
        """The last log entry this replica's store holds; None where the store follows no log."""
        return self.applied if self.log is not None else None

    def logged_version(self) -> Optional[int]:
        """The last entry of the log, applied here or not yet; None where the store follows no log."""
        return self.log.last_seq() if self.log is not None else None

    def catch_up(self) -> None:
        if self.log is None or self.log.last_seq() <= self.applied:
            return
        with self._applying:
            entries = self.log.since(self.applied)
            for op, group in _runs(entries):
                try:
                    if op == "write":
                        self.store.write_documents([Document.from_dict(doc) for entry in group for doc in entry.payload])
                    else:
                        for entry in group:
                            self._delete_now(entry.payload)
                except Exception:
                    # Every replica skips the same entries, so they still agree; retrying would stop following.
                    logger.exception("skipped write log entries %d to %d", group[0].seq, group[-1].seq)
                self.applied = group[-1].seq

    def _delete_now(self, filters: Optional[Dict[str, Any]]) -> None:
        if filters and len(self.store.get_all_documents(filters=filters)) == self.store.get_document_count():
            # Haystack's in-memory BM25 fails to rebuild over no documents; deleting all skips the rebuild.
            filters = None
        self.store.delete_documents(filters=filters or None)

    # --- documents ------------------------------------------------------------------------------------

    def upload(self, files: Sequence[Tuple[str, bytes]], meta: Dict[str, Any], params: Dict[str, Any]) -> Dict[str, Any]:
        """Index the (name, content) files that can be read; say per file what happened:
        {"files": [{"name", "documents"|"error"}]}."""
        if self.indexing_pipeline not in self.pipelines.names:
            raise NotImplementedError(f"uploads ({self.pipelines.path} has no pipeline {self.indexing_pipeline!r})")
        files = [UploadedFile(name, data) for name, data in files]
        results: List[Dict[str, Any]] = []
        readable: List[Tuple[int, UploadedFile]] = []
        for file in files:
            why = problem_with_text(file.data)
            results.append({"name": file.name, "error": why} if why else {"name": file.name, "documents": 0})
            if not why:
                readable.append((len(results) - 1, file))
        if readable:
            documents = self._convert([file for _, file in readable], meta, params)
            # Passages the indexing pipeline did not embed (it has no dense retriever) are embedded here.
            unembedded = [doc for doc in documents if doc.embedding is None] if self.embedder is not None else []
            if unembedded:
                for doc, embedding in zip(unembedded, self.embedder.embed_documents(unembedded)):
                    doc.embedding = embedding
            for position, file in readable:
                results[position]["documents"] = sum(1 for doc in documents if doc.meta.get("name") == file.name)
            self._write(documents)
        return {"files": results}

    def _convert(self, files: Sequence[UploadedFile], meta: Dict[str, Any], params: Dict[str, Any]) -> List[Document]:
        """The YAML's indexing pipeline up to its store: the documents it would write, collected instead."""
        collected = InMemoryDocumentStore(use_bm25=False, progress_bar=False, duplicate_documents="skip")
        store_nodes = [node["name"] for node in self.pipelines.nodes(self.indexing_pipeline)
                       if self.pipelines.component(node["name"]) is self.store]
        indexing = self.pipelines.load(self.indexing_pipeline, replace={name: collected for name in store_nodes})
        with tempfile.TemporaryDirectory(prefix="upload-") as folder:
            paths = []
            for number, file in enumerate(files):
                # The client's name is only kept as meta.name; on disk each file gets a folder of its own.
                path = Path(folder) / str(number) / (Path(file.name).name or "upload.txt")
                path.parent.mkdir()
                path.write_bytes(file.data)
                paths.append(path)
            metas = [{**meta, "name": file.name} for file in files]
            indexing.run(file_paths=paths, meta=metas, params=node_params(indexing, params))
        return collected.get_all_documents(return_embedding=True)

    def _write(self, documents: List[Document]) -> None:
        if self.log is None:
            self.store.write_documents(documents)
            return
        dimensions = self.store.embedding_dim if self.embedder is not None else None
        self.log.append("write", [_plain(doc, dimensions) for doc in documents])
        self.catch_up()

    def documents(self, filters: Optional[Dict[str, Any]]) -> List[Dict[str, Any]]:
        return [document_to_dict(document) for document in self._matching(filters)]

    def _matching(self, filters: Optional[Dict[str, Any]]) -> List[Document]:
        self.catch_up()
        try:
            if filters:
                check_operators(filters)  # Haystack's parser skips unknown operators: the filter would match everything
            return self.store.get_all_documents(filters=filters or None, return_embedding=False)
        except (HaystackError, TypeError, AttributeError, ValueError) as error:  # what malformed filters raise
            raise ValueError(f"filters: {error}") from None

    def delete_documents(self, filters: Optional[Dict[str, Any]]) -> int:
        """Delete the documents that match `filters`, all of them for no filters (as Haystack's REST API); returns how
        many matched."""
        # Tried first: a delete in the log that cannot run would fail in every replica.
        matched = len(self._matching(filters))
        if self.log is None:
            self._delete_now(filters)
        else:
            self.log.append("delete", filters or None)
            self.catch_up()
        return matched

    # --- feedback labels ------------------------------------------------------------------------------

    def write_label(self, label: Dict[str, Any]) -> None:
        """`label`: the fields of `/feedback`'s body (Haystack REST's `CreateLabelSerialized`)."""
        self.feedback.write(label_from_request(label))

    def labels(self, filters: Optional[Dict[str, Any]] = None) -> List[Dict[str, Any]]:
        return [label_to_dict(label) for label in self.feedback.all(filters)]

    def delete_labels(self, ids: List[str]) -> None:
        self.feedback.delete(ids)


def node_params(indexing, params: Dict[str, Any]) -> Dict[str, Dict[str, Any]]:
    """Haystack REST's upload parameters for the nodes that take them: converter fields for converters,
    preprocessor fields for preprocessors (and our splitter), each only where the node's `run` accepts it."""
    given = {key: value for key, value in params.items() if value is not None}
    targeted: Dict[str, Dict[str, Any]] = {}
    for name in indexing.graph.nodes:
        component = indexing.get_node(name)
        if isinstance(component, BaseConverter):
            keys = CONVERTER_PARAMS
        elif isinstance(component, (BasePreProcessor, WordWindowSplitter)):
            keys = PREPROCESSOR_PARAMS
        else:
            continue
        accepted = run_parameters(component)
        chosen = {key: given[key] for key in keys if key in given and key in accepted}
        if chosen:
            targeted[name] = chosen
    return targeted


def _plain(doc: Document, dimensions: Optional[int] = None) -> Dict[str, Any]:
    """A document for the write log; its embedding (where the store keeps embeddings) as the store keeps it, int8."""
    data = doc.to_dict()
    embedding = data.pop("embedding", None)
    if dimensions is not None and embedding is not None:
        data["embedding"] = quantized(embedding, dimensions).tolist()
    return data


def _runs(entries: List[LoggedWrite]):
    """Consecutive entries of one kind, together: a replica replaying many uploads rebuilds its index once."""
    group: List[LoggedWrite] = []
    for entry in entries:
        if group and entry.op != group[0].op:
            yield group[0].op, group
            group = []
        group.append(entry)
    if group:
        yield group[0].op, group
