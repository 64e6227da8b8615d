"""Reading documents for the store from JSON or JSONL files of {"content", "meta"} records, and the embeddings
made for them beforehand (data/make_embeddings.py), so that no replica embeds a corpus at its start."""
import gzip
import json
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import numpy as np

from haystack.schema import Document

JSON_SUFFIXES = {".json", ".jsonl"}  # and .jsonl.gz: JSONL compressed, as the shipped Wikipedia passages are


def is_records_file(path: Path) -> bool:
    return path.suffix in JSON_SUFFIXES or path.name.endswith(".jsonl.gz")
# Content plus metadata (which holds the source name): the same passage from two sources stays two documents,
# and writing the same file twice gives the same ids.
ID_HASH_KEYS = ["content", "meta"]


class DocumentsError(Exception):
    """Documents that cannot be loaded; the message names the file and what is wrong in it."""


def read_records_file(path: Path) -> List[Document]:
    """Documents from a .json file (an array of records) or a .jsonl / .jsonl.gz file (one record a line)."""
    try:
        data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        text = data.decode("utf-8")
    except (OSError, EOFError, UnicodeDecodeError) as error:
        raise DocumentsError(f"cannot read documents from {path}: {error}") from None
    records = _json_records(path, text) if path.suffix == ".json" else _jsonl_records(path, text)
    documents = [_to_document(path, where, record) for where, record in records]
    if not documents:
        raise DocumentsError(f"{path} holds no documents")
    return documents


def _json_records(path: Path, text: str) -> Iterator:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise DocumentsError(f"{path} is not valid JSON: {error}") from None
    if not isinstance(data, list):
        raise DocumentsError(f"{path} must hold a JSON array of {{\"content\", \"meta\"}} records")
    return ((f"record {i}", record) for i, record in enumerate(data))


def _jsonl_records(path: Path, text: str) -> Iterator:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield f"line {number}", json.loads(line)
        except json.JSONDecodeError as error:
            raise DocumentsError(f"{path} line {number} is not valid JSON: {error}") from None


def _to_document(path: Path, where: str, record: Any) -> Document:
    if not isinstance(record, dict) or not isinstance(record.get("content"), str) or not record["content"].strip():
        raise DocumentsError(f"{path} {where}: expected an object with a non-empty string \"content\"")
    meta: Dict[str, Any] = record.get("meta") or {}
    if not isinstance(meta, dict):
        raise DocumentsError(f"{path} {where}: \"meta\" must be an object")
    # Haystack's clients show meta.name as an answer's source.
    meta = {"name": path.name, **meta}
    if isinstance(record.get("id"), str) and record["id"]:
        # Prepared passages carry their ids (data/make_wikipedia.py): kept, and Haystack's slow id hash skipped.
        return Document(content=record["content"], meta=meta, id=record["id"])
    return Document(content=record["content"], meta=meta, id_hash_keys=ID_HASH_KEYS)


def embeddings_beside(path: Path) -> Path:
    """Where a records file's embeddings are: `X.jsonl.gz` -> `X.embeddings.npy.gz` in the same folder."""
    return path.with_name(f"{path.name.split('.')[0]}.embeddings.npy.gz")


def attach_embeddings(documents: List[Document], path: Path) -> Optional[Path]:
    """Give each document its row of the embeddings beside `path` (rows in the file's record order, int8); returns
    that file, or None when there is none."""
    found = embeddings_beside(path)
    if not found.exists():
        return None
    try:
        with gzip.open(found, "rb") as packed:
            matrix = np.load(packed, allow_pickle=False)
    except (OSError, EOFError, ValueError) as error:
        raise DocumentsError(f"cannot read embeddings from {found}: {error}") from None
    if matrix.ndim != 2 or len(matrix) != len(documents):
        raise DocumentsError(f"{found} holds {len(matrix)} embeddings for the {len(documents)} documents of {path}; "
                             "make them again (data/make_embeddings.py)")
    for doc, row in zip(documents, matrix):
        doc.embedding = row
    return found
