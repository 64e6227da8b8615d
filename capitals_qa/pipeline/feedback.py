"""Where feedback labels live: the document store's label index (Elasticsearch), or for an in-memory store a
SQLite file, so that labels survive restarts and every replica sees the same ones."""
import json
from pathlib import Path
from typing import Any, Dict, List, Optional, Protocol

from haystack.document_stores import BaseDocumentStore, InMemoryDocumentStore
from haystack.schema import Label

from capitals_qa.pipeline import sqlite_file


class Labels(Protocol):
    def write(self, label: Label) -> None: ...

    def all(self, filters: Optional[Dict[str, Any]] = None) -> List[Label]: ...

    def delete(self, ids: List[str]) -> None: ...


class StoreLabels:
    """The store's own label index (Elasticsearch's `label` index)."""

    def __init__(self, store: BaseDocumentStore):
        self.store = store

    def write(self, label: Label) -> None:
        self.store.write_labels([label])

    def all(self, filters: Optional[Dict[str, Any]] = None) -> List[Label]:
        return self.store.get_all_labels(filters=filters or None)

    def delete(self, ids: List[str]) -> None:
        if ids:
            self.store.delete_labels(ids=ids)


class SQLiteLabels:
    """Labels as JSON (Label.to_dict()) in one SQLite file; filters as InMemoryDocumentStore.get_all_labels reads
    them: {field: value or [values]} on the label's top-level fields."""

    def __init__(self, path: str):
        self.path = Path(path)
        sqlite_file.create(self.path, "labels (id TEXT PRIMARY KEY, label TEXT NOT NULL)")

    def write(self, label: Label) -> None:
        with sqlite_file.opened(self.path) as db:
            db.execute("INSERT OR REPLACE INTO labels (id, label) VALUES (?, ?)", (label.id, json.dumps(label.to_dict(), default=str)))

    def all(self, filters: Optional[Dict[str, Any]] = None) -> List[Label]:
        with sqlite_file.opened(self.path) as db:
            rows = db.execute("SELECT label FROM labels ORDER BY rowid").fetchall()
        labels = [json.loads(row) for row, in rows]
        return [Label.from_dict(label) for label in labels if _matches(label, filters or {})]

    def delete(self, ids: List[str]) -> None:
        with sqlite_file.opened(self.path) as db:
            db.executemany("DELETE FROM labels WHERE id = ?", [(label_id,) for label_id in ids])


def _matches(label: Dict[str, Any], filters: Dict[str, Any]) -> bool:
    for key, wanted in filters.items():
        value = label.get(key)
        if value not in wanted if isinstance(wanted, list) else value != wanted:
            return False
    return True


def labels_for(store: BaseDocumentStore, feedback_db: Optional[str]) -> Labels:
    """A store of its own keeps its labels; an in-memory one's would vanish with the replica, so they go to
    `feedback_db` (without one, to the replica's memory: lost at restart, and not shared)."""
    if isinstance(store, InMemoryDocumentStore) and feedback_db:
        return SQLiteLabels(feedback_db)
    return StoreLabels(store)
