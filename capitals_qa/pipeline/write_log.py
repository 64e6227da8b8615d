"""The shared write log: every upload and delete on an in-memory store, in order, in one SQLite file.

Replicas of an in-memory store each hold their own copy of the documents. Each appends its writes here and
applies what the log holds, its own writes and everyone else's, in the log's order (see served_store.py), so
every replica converges on the same documents; one that starts later replays the whole log.
"""
import json
from pathlib import Path
from typing import Any, List, NamedTuple, Optional

from capitals_qa.pipeline import sqlite_file


class LoggedWrite(NamedTuple):
    seq: int
    op: str  # "write": payload is a list of Document.to_dict(); "delete": payload is Haystack filters (None: all)
    payload: Any


class WriteLog:
    def __init__(self, path: str):
        self.path = Path(path)
        sqlite_file.create(self.path, "writes (seq INTEGER PRIMARY KEY AUTOINCREMENT, op TEXT NOT NULL, payload TEXT NOT NULL)")

    def append(self, op: str, payload: Any) -> int:
        with sqlite_file.opened(self.path) as db:
            cursor = db.execute("INSERT INTO writes (op, payload) VALUES (?, ?)", (op, json.dumps(payload, default=str)))
            return cursor.lastrowid

    def last_seq(self) -> int:
        with sqlite_file.opened(self.path) as db:
            return db.execute("SELECT COALESCE(MAX(seq), 0) FROM writes").fetchone()[0]

    def since(self, seq: int) -> List[LoggedWrite]:
        """The writes after `seq`, oldest first."""
        with sqlite_file.opened(self.path) as db:
            rows = db.execute("SELECT seq, op, payload FROM writes WHERE seq > ? ORDER BY seq", (seq,)).fetchall()
        return [LoggedWrite(seq, op, json.loads(payload)) for seq, op, payload in rows]


def last_seq_of(path: str) -> Optional[int]:
    """The last entry of the log at `path`, read without creating it: None while there is no log there."""
    if not Path(path).is_file():
        return None
    with sqlite_file.opened(Path(path)) as db:
        return db.execute("SELECT COALESCE(MAX(seq), 0) FROM writes").fetchone()[0]
