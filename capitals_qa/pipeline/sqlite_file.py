"""Opening the service's SQLite files (the write log, feedback labels), which the replicas share."""
import sqlite3
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Iterator

# Writers of other replicas may hold a file's lock for a moment; wait rather than fail.
BUSY_TIMEOUT_S = 30


def create(path: Path, table: str) -> None:
    """The file and its table, made if missing, in WAL mode: readers (every replica polls) never block the writer."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with opened(path) as db:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"CREATE TABLE IF NOT EXISTS {table}")


@contextmanager
def opened(path: Path) -> Iterator[sqlite3.Connection]:
    """A connection for one operation: committed when the block ends (rolled back if it raised), then closed."""
    with closing(sqlite3.connect(path, timeout=BUSY_TIMEOUT_S)) as db, db:
        yield db
