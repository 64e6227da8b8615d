"""Running a YAML's indexing pipeline over text files: checks, progress, and what was done."""
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List, Optional

from haystack import Pipeline
from haystack.document_stores import BaseDocumentStore
from tqdm import tqdm

# Pipeline runs per indexing: an in-memory BM25 store rebuilds its whole index on every write, so few runs;
# enough of them for the progress bar to move and for an interrupted run to lose little.
RUNS = 10
MIN_FILES_PER_RUN = 16


@dataclass
class IndexReport:
    files_read: int = 0
    skipped: Dict[str, str] = field(default_factory=dict)  # file -> why
    documents_written: int = 0
    documents_in_store: int = 0
    seconds: float = 0.0

    def summary(self) -> str:
        lines = [
            f"{self.files_read} files read, {len(self.skipped)} skipped, {self.documents_written} documents written "
            f"({self.documents_in_store} in the store) in {self.seconds:.1f} s"
        ]
        lines += [f"  skipped {path}: {why}" for path, why in self.skipped.items()]
        return "\n".join(lines)


def collect_text_files(paths: Iterable[Path]) -> List[Path]:
    """The .txt files named, or found under the folders named; every path must exist."""
    paths = [Path(p) for p in paths]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise FileNotFoundError(f"no such file or folder: {', '.join(missing)}")
    files: List[Path] = []
    for path in paths:
        files.extend(sorted(path.rglob("*.txt")) if path.is_dir() else [path])
    return files


def problem_with(path: Path) -> Optional[str]:
    """Why a file cannot be indexed, or None. Haystack's TextConverter would drop undecodable bytes silently."""
    try:
        data = path.read_bytes()
    except OSError as error:
        return f"unreadable ({error.strerror})"
    return problem_with_text(data)


def problem_with_text(data: bytes) -> Optional[str]:
    """Why a file's bytes cannot be indexed (empty, not UTF-8), or None."""
    if not data.strip():
        return "empty"
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as error:
        return f"not UTF-8 (byte {error.start})"
    return None


def index_files(indexing: Pipeline, files: List[Path], store: BaseDocumentStore, progress: bool = False) -> IndexReport:
    """Run `indexing` (File -> converter -> splitter -> ... -> store) over the files that can be read."""
    started = time.perf_counter()
    report = IndexReport()
    before = store.get_document_count()
    readable = []
    for path in files:
        why = problem_with(path)
        if why:
            report.skipped[str(path)] = why
        else:
            readable.append(path)
    with tqdm(total=len(readable), unit="file", desc="Indexing", disable=not progress) as bar:
        files_per_run = max(MIN_FILES_PER_RUN, -(-len(readable) // RUNS))
        for start in range(0, len(readable), files_per_run):
            batch = readable[start : start + files_per_run]
            # meta.name is the source Haystack clients show beside an answer.
            indexing.run(file_paths=batch, meta=[{"name": path.name} for path in batch])
            report.files_read += len(batch)
            bar.update(len(batch))
    report.documents_in_store = store.get_document_count()
    report.documents_written = report.documents_in_store - before
    report.seconds = time.perf_counter() - started
    return report
