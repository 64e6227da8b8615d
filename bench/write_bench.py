"""Write benchmark: how long one upload and one delete take to reach the index of a store holding the shipped
20,251 Wikipedia passages, the cost that bounds how fast replicas following the write log converge.

    .venv/bin/python -m bench.write_bench        # about 2 minutes on 2 cores

Rows, all measured in this run over the same passages: Haystack's InMemoryDocumentStore (rank_bm25, rebuilt
from all texts on every write), SparseBM25DocumentStore counting every passage's words again on each write (what
it did before it kept word counts), and SparseBM25DocumentStore as it is. One write is one new passage; one
delete removes it again by a `meta.name` filter. Median of REPEATS. Writes bench/results/writes.md and writes.json.
"""
import datetime
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List

from haystack.document_stores import InMemoryDocumentStore
from haystack.schema import Document

if not __package__:  # run as a file: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from capitals_qa.pipeline.documents import read_records_file  # noqa: E402
from capitals_qa.pipeline.internals import silence_bm25_progress_bars  # noqa: E402
from capitals_qa.pipeline.sparse_bm25 import SparseBM25DocumentStore  # noqa: E402

PROJECT_DIR = Path(__file__).resolve().parent.parent
PASSAGES = PROJECT_DIR / "data" / "countries-and-capitals.jsonl.gz"
RESULTS_DIR = PROJECT_DIR / "bench" / "results"
REPEATS = 3


class RecountingStore(SparseBM25DocumentStore):
    """SparseBM25DocumentStore without its kept word counts: every write counts every passage's words again."""

    def update_bm25(self, index=None):
        self._counts.clear()
        super().update_bm25(index)


def timed(store, repeat: int) -> Dict[str, float]:
    upload = Document(content=f"Zorblax is the capital of Quuxland, upload {repeat}.", meta={"name": "bench-upload.txt"})
    started = time.perf_counter()
    store.write_documents([upload])
    written = time.perf_counter()
    store.delete_documents(filters={"name": ["bench-upload.txt"]})
    deleted = time.perf_counter()
    assert not store.get_all_documents(filters={"name": ["bench-upload.txt"]})
    return {"write_s": written - started, "delete_s": deleted - written}


def main() -> None:
    silence_bm25_progress_bars()
    passages = read_records_file(PASSAGES)
    candidates: Dict[str, Callable[[], object]] = {
        "Haystack InMemoryDocumentStore (rank_bm25)": lambda: InMemoryDocumentStore(use_bm25=True, progress_bar=False),
        "SparseBM25DocumentStore, recounting every passage": lambda: RecountingStore(progress_bar=False),
        "SparseBM25DocumentStore (kept word counts)": lambda: SparseBM25DocumentStore(progress_bar=False),
    }
    rows: List[Dict[str, object]] = []
    for name, make in candidates.items():
        store = make()
        store.write_documents(passages)
        runs = [timed(store, repeat) for repeat in range(REPEATS)]
        rows.append({"store": name, "passages": store.get_document_count(),
                     "write_s": statistics.median(r["write_s"] for r in runs),
                     "delete_s": statistics.median(r["delete_s"] for r in runs)})
        print(rows[-1], flush=True)
    baseline = rows[0]
    for row in rows:
        row["write_vs_haystack"] = row["write_s"] / baseline["write_s"]
        row["delete_vs_haystack"] = row["delete_s"] / baseline["delete_s"]
    machine = {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform(),
               "load_average": os.getloadavg(), "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    RESULTS_DIR.mkdir(exist_ok=True)
    (RESULTS_DIR / "writes.json").write_text(json.dumps({"machine": machine, "repeats": REPEATS, "rows": rows}, indent=2))
    lines = [
        "# One upload and one delete at 20k passages", "",
        f"`python -m bench.write_bench`, {machine['date']}, {machine['cpus']} CPUs (load average {machine['load_average'][0]:.1f}: "
        "a shared machine), median of {} runs.".format(REPEATS), "",
        "| store | passages | write s | delete s | write vs Haystack | delete vs Haystack |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    lines += [f"| {r['store']} | {r['passages']} | {r['write_s']:.3f} | {r['delete_s']:.3f} | {r['write_vs_haystack']:.3f} | "
              f"{r['delete_vs_haystack']:.3f} |" for r in rows]
    (RESULTS_DIR / "writes.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
