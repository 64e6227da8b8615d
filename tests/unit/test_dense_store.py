"""Dense retrieval in SparseBM25DocumentStore (`use_embeddings: true`): what EmbeddingRetriever gets from it, what a
snapshot keeps, and the embeddings shipped beside a records file."""
import gzip
import io
import json

import numpy as np
import pytest
from haystack.schema import Document

from capitals_qa.pipeline.documents import DocumentsError, attach_embeddings, read_records_file
from capitals_qa.pipeline.snapshot import load_snapshot, save_snapshot
from capitals_qa.pipeline.sparse_bm25 import SparseBM25DocumentStore, quantized

pytestmark = pytest.mark.unit

DIM = 4


def unit(*values: float) -> np.ndarray:
    vector = np.array(values, dtype=np.float32)
    return vector / np.linalg.norm(vector)


def dense_store(**params) -> SparseBM25DocumentStore:
    store = SparseBM25DocumentStore(progress_bar=False, use_embeddings=True, embedding_dim=DIM, **params)
    store.write_documents([
        Document(content="Rome is the capital of Italy.", meta={"name": "Italy"}, embedding=unit(1, 0, 0, 0)),
        Document(content="Paris is the capital of France.", meta={"name": "France"}, embedding=unit(1, 1, 0, 0)),
        Document(content="Madrid is the capital of Spain.", meta={"name": "Spain"}, embedding=unit(0, 1, 0, 0)),
        Document(content="Bern is the capital of Switzerland.", meta={"name": "Switzerland"}),  # no embedding
    ])
    return store


def names(documents):
    return [doc.meta["name"] for doc in documents]


def test_query_by_embedding_ranks_by_cosine_skips_documents_without_one_and_honours_filters():
    store = dense_store()
    found = store.query_by_embedding(unit(1, 0.2, 0, 0), top_k=10)
    assert names(found) == ["Italy", "France", "Spain"]
    assert found[0].score == pytest.approx((np.dot(unit(1, 0.2, 0, 0), unit(1, 0, 0, 0)) + 1) / 2, abs=0.01)
    assert names(store.query_by_embedding(unit(1, 0.2, 0, 0), top_k=10, filters={"name": ["Spain", "France"]})) == ["France", "Spain"]
    assert [round(d.score, 2) for d in store.query_by_embedding(unit(0, 1, 0, 0), top_k=1, scale_score=False)] == [1.0]
    assert all(doc.embedding is None for doc in found)  # as Haystack's stores: embeddings only when asked for
    with pytest.raises(Exception, match="dimensions"):
        store.query_by_embedding(np.ones(DIM + 1, dtype=np.float32))


def test_embeddings_are_kept_as_int8_of_the_unit_vector_and_bm25_still_works():
    store = dense_store()
    assert store.query("Rome Italy", top_k=1)[0].meta["name"] == "Italy"
    stored = [doc for doc in store.get_all_documents(return_embedding=True) if doc.meta["name"] == "France"][0]
    assert stored.embedding.dtype == np.int8 and list(stored.embedding) == [90, 90, 0, 0]
    assert list(quantized([3.0, 4.0, 0.0, 0.0], DIM)) == [76, 102, 0, 0]
    assert list(quantized(np.array([90, 90, 0, 0]), DIM)) == [90, 90, 0, 0]  # as the write log carries them


def test_a_store_without_use_embeddings_keeps_none_and_finds_nothing_by_embedding():
    store = SparseBM25DocumentStore(progress_bar=False)
    store.write_documents([Document(content="Rome is the capital of Italy.", embedding=unit(1, 0, 0, 0, 0, 0))])
    assert store.get_all_documents(return_embedding=True)[0].embedding is None
    assert store.query_by_embedding(unit(1, 0, 0, 0)) == []


def test_a_snapshot_keeps_the_embeddings(tmp_path):
    store = dense_store()
    path = tmp_path / "dense.store.npz"
    save_snapshot(store, path, key="k")
    loaded = SparseBM25DocumentStore(progress_bar=False, use_embeddings=True, embedding_dim=DIM)
    load_snapshot(loaded, path, key="k")
    query = unit(0.3, 1, 0, 0)
    assert [(d.id, d.score) for d in loaded.query_by_embedding(query)] == [(d.id, d.score) for d in store.query_by_embedding(query)]
    # A store of another dimension, or one that keeps no embeddings, does not take it.
    with pytest.raises(Exception, match="does not fit|embeddings"):
        load_snapshot(SparseBM25DocumentStore(progress_bar=False, use_embeddings=True, embedding_dim=8), path, key="k")


def test_embeddings_beside_a_records_file_are_attached_in_record_order_and_a_mismatch_names_the_file(tmp_path):
    records = tmp_path / "corpus.jsonl"
    records.write_text("".join(json.dumps({"content": f"Passage {i}."}) + "\n" for i in range(3)))
    matrix = np.array([[127, 0, 0, 0], [0, 127, 0, 0], [0, 0, 127, 0]], dtype=np.int8)

    def ship(rows: np.ndarray) -> None:
        buffer = io.BytesIO()
        np.save(buffer, rows)
        (tmp_path / "corpus.embeddings.npy.gz").write_bytes(gzip.compress(buffer.getvalue()))

    documents = read_records_file(records)
    assert attach_embeddings(documents, records) is None  # none shipped: nothing attached
    ship(matrix)
    assert attach_embeddings(documents, records).name == "corpus.embeddings.npy.gz"
    assert [list(doc.embedding) for doc in documents] == matrix.tolist()
    ship(matrix[:2])
    with pytest.raises(DocumentsError, match="corpus.embeddings.npy.gz holds 2 embeddings for the 3 documents"):
        attach_embeddings(read_records_file(records), records)
