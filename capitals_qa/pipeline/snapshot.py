"""Store snapshots: a SparseBM25DocumentStore's passages and BM25 index in one file, loaded instead of re-indexing.

A replica that fills its store from a corpus spends seconds to tens of seconds reading, splitting and indexing;
loading a snapshot of the result takes about a second. A snapshot is one .npz file holding:
- `about`: JSON naming the snapshot format, the key (what it was built from), the source and the document count;
- `documents`: the passages as JSON lines (id, content, meta);
- the index of `SparseBM25DocumentStore.index_state()`, with the int8 embeddings where the store keeps them.

Snapshots are written to a temporary file in the target folder, then renamed over the target: replicas starting
at once on one disk may each write one, and a reader only ever sees a whole file. Reading checks everything
(zip CRCs, format, key, the store's BM25 settings, that the index covers exactly the passages) before the store
is touched, so a snapshot is loaded whole or not at all.
"""
import copy
import hashlib
import json
import logging
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any, Dict, List, Optional

import bm25s
from haystack.schema import Document

from capitals_qa.pipeline.documents import embeddings_beside
from capitals_qa.pipeline.sparse_bm25 import SparseBM25DocumentStore, read_state, save_state

logger = logging.getLogger(__name__)

# Bump when what a snapshot holds, or how the index is computed, changes: older files are then rebuilt.
FORMAT = "capitals-qa-store/3"  # 2: the word counts (tf) beside the weights; 3: the embeddings (int8)
SUFFIX = ".store.npz"


class SnapshotError(Exception):
    """A snapshot that cannot be used; the message names the file and why."""


def is_snapshot_file(path: Path) -> bool:
    return path.name.endswith(SUFFIX)


def can_snapshot(store: Any) -> bool:
    return isinstance(store, SparseBM25DocumentStore)


def source_digest(source: Path) -> str:
    """sha256 over the bytes of a file, or of every .txt file under a folder with its relative path."""
    digest = hashlib.sha256()
    files = sorted(source.rglob("*.txt")) if source.is_dir() else [source]
    for path in files:
        digest.update(str(path.relative_to(source) if source.is_dir() else path.name).encode("utf-8") + b"\0")
        with path.open("rb") as stream:
            for block in iter(lambda: stream.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def snapshot_key(store: SparseBM25DocumentStore, source: Path, indexing: Optional[Dict[str, Any]]) -> str:
    """What a snapshot of `source` in `store` depends on: a changed corpus, splitter or index gives another key.

    `indexing`: the definitions of the indexing pipeline's components when the source goes through it (.txt), so
    a changed `split_length` is a new key; None for records files, which are written as they are.
    """
    embeddings = embeddings_beside(source) if store.use_embeddings and source.is_file() else None
    parts = {
        "format": FORMAT,
        "bm25s": bm25s.__version__,
        "store": store.bm25_settings(),
        "source": source_digest(source),
        "indexing": indexing,
        "embeddings": source_digest(embeddings) if embeddings is not None and embeddings.exists() else None,
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode("utf-8")).hexdigest()


def cache_path(cache_dir: Path, source: Path, key: str) -> Path:
    name = source.name.split(".")[0] or "documents"
    return cache_dir / f"{name}-{key[:16]}{SUFFIX}"


def save_snapshot(store: SparseBM25DocumentStore, path: Path, key: str, source: str = "") -> None:
    """Write the store's default index to `path` (temporary file, then rename)."""
    state = store.index_state()
    documents = store.get_all_documents()
    lines = "\n".join(json.dumps({"id": doc.id, "content": doc.content, "meta": doc.meta}, ensure_ascii=False) for doc in documents)
    about = {"format": FORMAT, "key": key, "source": source, "documents": len(documents)}
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as stream:
            save_state(state, stream, about=json.dumps(about), documents=lines)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    logger.info("Saved a snapshot of %d documents to %s", len(documents), path)


def load_snapshot(store: SparseBM25DocumentStore, path: Path, key: Optional[str] = None) -> int:
    """Fill `store` from the snapshot at `path`; with `key`, only from a snapshot built for it. Returns the count.

    Raises SnapshotError naming the file when it is missing, truncated, damaged, of another format, built for
    another corpus or splitter (`key`), or with other BM25 settings than the store's; the store is then unchanged.
    """
    try:
        state = read_state(path, texts=("about", "documents"))
    except FileNotFoundError:
        raise SnapshotError(f"store snapshot {path} does not exist") from None
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:
        raise SnapshotError(f"store snapshot {path} is truncated or damaged ({error})") from None
    try:
        about = json.loads(state.pop("about"))
        documents = documents_from_lines(state.pop("documents"))
    except (ValueError, KeyError, TypeError) as error:
        raise SnapshotError(f"store snapshot {path} is damaged ({error})") from None
    if about.get("format") != FORMAT:
        raise SnapshotError(f"store snapshot {path} has format {about.get('format')!r}, this version reads {FORMAT!r}")
    if key is not None and about.get("key") != key:
        raise SnapshotError(f"store snapshot {path} was built from another corpus, splitter or version")
    if len(documents) != about.get("documents"):
        raise SnapshotError(f"store snapshot {path} holds {len(documents)} documents, it says {about.get('documents')}")
    try:
        store.load_state(state, documents)
    except ValueError as error:
        raise SnapshotError(f"store snapshot {path} does not fit this store: {error}") from None
    logger.info("Loaded %d documents from the store snapshot %s", len(documents), path)
    return len(documents)


def documents_from_lines(lines: str) -> List[Document]:
    """The passages as Haystack Documents, made as copies of one Document with the fields of each line set.

    Haystack's Document constructor validates every field (a pydantic dataclass), which the passages passed when
    they were written, and a new replica's start waits for it (bench/results/replica_start.md compares the two).
    The types are still checked, so that a damaged line is refused rather than served.
    """
    template = Document(content="", id="template")
    documents = []
    for line in lines.split("\n"):
        if not line:
            continue
        record = json.loads(line)
        content, meta, doc_id = record["content"], record["meta"], record["id"]
        if not (isinstance(content, str) and isinstance(meta, dict) and isinstance(doc_id, str)):
            raise TypeError(f"a passage line has content, meta, id of types {type(content).__name__}, "
                            f"{type(meta).__name__}, {type(doc_id).__name__}")
        document = copy.copy(template)
        document.content, document.meta, document.id = content, meta, doc_id
        document.id_hash_keys = ["content"]  # the template's list is not shared
        documents.append(document)
    return documents
