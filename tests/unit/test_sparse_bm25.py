"""SparseBM25DocumentStore: Haystack's BM25 results from a sparse index, with filters, thread safety and saved state."""
import threading

import pytest
from haystack import Pipeline
from haystack.document_stores import InMemoryDocumentStore
from haystack.nodes import BM25Retriever
from haystack.schema import Document
from scipy.special import expit

from capitals_qa.pipeline.sparse_bm25 import SparseBM25DocumentStore, read_state, save_state

pytestmark = pytest.mark.unit

FACTS = [
    ("Italy", "Europe", "Rome is the capital of Italy. The Tiber flows through Rome."),
    ("France", "Europe", "Paris is the capital of France. The Seine flows through Paris, and the Louvre is there."),
    ("Germany", "Europe", "Berlin is the capital of Germany. The Spree flows through Berlin."),
    ("Hungary", "Europe", "Budapest is the capital of Hungary. The Danube flows through Budapest."),
    ("Austria", "Europe", "Vienna is the capital of Austria. The Danube flows through Vienna too."),
    ("Japan", "Asia", "Tokyo is the capital of Japan. The yen is the currency of Japan."),
    ("Nepal", "Asia", "Kathmandu is the capital of Nepal. Mount Everest stands on its border with China."),
    ("Egypt", "Africa", "Cairo is the capital of Egypt. The Nile flows through Cairo to the Mediterranean."),
    ("Kenya", "Africa", "Nairobi is the capital of Kenya. Jomo Kenyatta was its first president."),
    ("Peru", "Americas", "Lima is the capital of Peru. Lake Titicaca lies between Peru and Bolivia."),
]
QUESTIONS = [
    "Which river flows through Budapest?",
    "What is the capital of Japan?",
    "Where is Mount Everest?",
    "Which river flows through Paris and Rome?",
    "Who was the first president of Kenya?",
]


def facts() -> list:
    return [Document(content=text, meta={"name": name, "region": region}) for name, region, text in FACTS]


@pytest.fixture
def store() -> SparseBM25DocumentStore:
    store = SparseBM25DocumentStore(progress_bar=False)
    store.write_documents(facts())
    return store


def names(documents) -> list:
    return [doc.meta["name"] for doc in documents]


def test_returns_top_k_best_first(store):
    hits = store.query("Which river flows through Budapest?", top_k=3)
    assert len(hits) == 3
    assert hits[0].meta["name"] == "Hungary"
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert len(store.query("capital", top_k=100)) == len(FACTS)


def test_scaled_scores_are_haystacks_scaling_of_bm25(store):
    raw = store.query("Danube river", top_k=4, scale_score=False)
    scaled = store.query("Danube river", top_k=4)
    assert [d.id for d in raw] == [d.id for d in scaled]
    assert [d.score for d in scaled] == pytest.approx([float(expit(d.score / 8)) for d in raw])
    assert all(0 < d.score < 1 for d in scaled)


def test_every_document_scores_as_in_haystacks_in_memory_bm25():
    haystack = InMemoryDocumentStore(use_bm25=True, progress_bar=False)
    haystack.write_documents(facts())
    ours = SparseBM25DocumentStore(progress_bar=False)
    ours.write_documents(facts())
    for question in QUESTIONS:
        # All documents, as equal scores (documents of equal length) may come in another order.
        expected = {d.id: d.score for d in haystack.query(question, top_k=len(FACTS))}
        found = {d.id: d.score for d in ours.query(question, top_k=len(FACTS))}
        assert found == pytest.approx(expected, rel=1e-6), question
        assert ours.query(question, top_k=1)[0].id == haystack.query(question, top_k=1)[0].id


@pytest.mark.parametrize(
    "filters, allowed",
    [
        ({"name": "Austria"}, {"Austria"}),
        ({"name": {"$eq": "Austria"}}, {"Austria"}),
        ({"name": ["Austria", "Egypt"]}, {"Austria", "Egypt"}),
        ({"name": {"$in": ["Austria", "Egypt"]}}, {"Austria", "Egypt"}),
        ({"$and": {"region": "Europe", "name": {"$ne": "Hungary"}}}, {"Italy", "France", "Germany", "Austria"}),
        ({"$or": {"region": "Africa", "name": "Austria"}}, {"Egypt", "Kenya", "Austria"}),
    ],
)
def test_filters_on_meta_narrow_the_results(store, filters, allowed):
    hits = store.query("Which cities lie on the Danube?", filters=filters, top_k=10)
    assert set(names(hits)) == allowed
    # The best match among the allowed comes first: here a Danube city if one is allowed.
    if "Austria" in allowed and "Hungary" not in allowed:
        assert hits[0].meta["name"] == "Austria"


def test_filters_reach_the_store_through_the_retriever(store):
    retriever = BM25Retriever(document_store=store, top_k=2)
    assert set(names(retriever.retrieve("capital", filters={"region": "Asia"}))) == {"Japan", "Nepal"}
    assert retriever.retrieve("capital", filters={"region": "Antarctica"}) == []


def test_filters_see_meta_updates(store):
    assert names(store.query("capital", filters={"region": "Asia"}, top_k=10)) != []
    japan = store.query("Tokyo", top_k=1)[0]
    store.update_document_meta(japan.id, {"region": "Oceania"})
    assert names(store.query("capital", filters={"region": "Oceania"}, top_k=10)) == ["Japan"]
    assert "Japan" not in names(store.query("capital", filters={"region": "Asia"}, top_k=10))


def test_written_documents_are_found_and_deleted_ones_are_not(store):
    store.write_documents([Document(content="Ulaanbaatar is the capital of Mongolia, north of the Gobi.", meta={"name": "Mongolia"})])
    hits = store.query("Gobi desert", top_k=1)
    assert names(hits) == ["Mongolia"]
    store.delete_documents(ids=[hits[0].id])
    assert "Mongolia" not in names(store.query("Gobi desert", top_k=20))
    store.delete_documents(filters={"region": "Europe"})
    assert not {"Italy", "France", "Germany", "Hungary", "Austria"} & set(names(store.query("capital", top_k=20)))
    store.delete_all_documents()
    assert store.query("capital") == []


def test_results_are_copies_the_store_keeps_unchanged(store):
    hit = store.query("Danube", top_k=1)[0]
    hit.meta["name"] = "changed"
    hit.score = 99.0
    stored = store.get_document_by_id(hit.id)
    assert stored.meta["name"] != "changed" and stored.score is None
    assert store.query("Danube", top_k=1)[0].meta["name"] in {"Hungary", "Austria"}


def test_queries_from_many_threads_at_once_each_get_their_own_scores(store):
    expected = {q: [(d.id, d.score) for d in store.query(q, top_k=5)] for q in QUESTIONS}
    wrong = []
    start = threading.Barrier(8)

    def ask(offset: int):
        start.wait()
        for i in range(300):
            question = QUESTIONS[(i + offset) % len(QUESTIONS)]
            if [(d.id, d.score) for d in store.query(question, top_k=5)] != expected[question]:
                wrong.append(question)

    threads = [threading.Thread(target=ask, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wrong == []
    assert all(doc.score is None for doc in store.get_all_documents())


def test_saved_index_state_gives_the_same_results(store, tmp_path):
    save_state(store.index_state(), tmp_path / "state.npz")
    loaded = SparseBM25DocumentStore.from_state(read_state(tmp_path / "state.npz"), facts()[::-1], progress_bar=False)
    for question in QUESTIONS:
        assert [(d.id, d.score) for d in loaded.query(question, top_k=5)] == [(d.id, d.score) for d in store.query(question, top_k=5)]
    assert loaded.get_document_count() == len(FACTS)


def test_saved_index_state_is_refused_for_other_documents_or_settings(store):
    state = store.index_state()
    with pytest.raises(ValueError, match="other documents"):
        SparseBM25DocumentStore.from_state(state, facts()[1:], progress_bar=False)
    with pytest.raises(ValueError, match="settings|built with"):
        SparseBM25DocumentStore.from_state(state, facts(), progress_bar=False, bm25_method="lucene")


def test_pipeline_yaml_names_the_store_by_type(tmp_path):
    yaml = tmp_path / "pipeline.yml"
    yaml.write_text(
        """
version: 1.26.4.post0
components:
  - name: DocumentStore
    type: SparseBM25DocumentStore
    params:
      use_bm25: true
      progress_bar: false
      bm25_parameters: {k1: 1.2, b: 0.75}
  - name: Retriever
    type: BM25Retriever
    params:
      document_store: DocumentStore
      top_k: 2
pipelines:
  - name: query
    nodes:
      - name: Retriever
        inputs: [Query]
""",
        encoding="utf-8",
    )
    pipeline = Pipeline.load_from_yaml(yaml, pipeline_name="query")
    store = pipeline.get_document_store()
    assert isinstance(store, SparseBM25DocumentStore) and store.bm25_parameters["k1"] == 1.2
    store.write_documents(facts())
    result = pipeline.run(query="Which river flows through Budapest?")
    assert len(result["documents"]) == 2 and result["documents"][0].meta["name"] == "Hungary"
    filtered = pipeline.run(query="Which river flows through Budapest?", params={"Retriever": {"filters": {"region": "Africa"}}})
    assert set(names(filtered["documents"])) <= {"Egypt", "Kenya"}


def test_the_service_lets_filters_through_and_locks_no_queries_for_this_store():
    from capitals_qa.pipeline.store import ignored_parameters, make_thread_safe

    sparse, haystacks = SparseBM25DocumentStore(), InMemoryDocumentStore(use_bm25=True)
    assert ignored_parameters(sparse) == {} and "filters" in ignored_parameters(haystacks)
    query = sparse.query
    make_thread_safe(sparse)
    assert sparse.query == query


def test_shipped_passages_load_as_records_with_their_ids(tmp_path):
    import gzip as gz
    import json as js

    from capitals_qa.pipeline.documents import is_records_file, read_records_file

    path = tmp_path / "passages.jsonl.gz"
    path.write_bytes(gz.compress("\n".join(js.dumps(r) for r in [
        {"id": "p1", "content": "Rome is the capital of Italy.", "meta": {"name": "Italy"}},
        {"content": "Paris is the capital of France.", "meta": {"name": "France"}},
    ]).encode()))
    assert is_records_file(path)
    first, second = read_records_file(path)
    assert first.id == "p1" and first.meta["name"] == "Italy"
    assert second.id and second.id != "p1"


@pytest.mark.parametrize("filters", [{"name": {"$like": "Rome"}}, {"$or": [{"name": "Italy"}, {"$near": 1}]}, ["Italy"]])
def test_an_unknown_filter_operator_is_an_error_not_a_match_for_everything(store, filters):
    # Haystack's own parser skips operators it does not know, and the filter then matches every document.
    with pytest.raises(ValueError, match="filter"):
        store.query("capital", filters=filters, top_k=3)


@pytest.mark.parametrize("method", ["okapi", "lucene"])
def test_an_index_changed_by_writes_and_deletes_scores_as_one_built_at_once(method):
    """Word counts are kept between rebuilds: after any sequence of writes, overwrites and deletes, every score is
    that of a store given the remaining documents in one write."""
    documents = facts()
    changed = SparseBM25DocumentStore(progress_bar=False, bm25_method=method)
    changed.write_documents(documents[:4])
    changed.write_documents(documents[4:])
    changed.delete_documents(filters={"region": ["Asia"]})
    changed.delete_documents(ids=[documents[0].id])
    # The same id with new text: its old words must not linger.
    changed.write_documents([Document(content="Tiber and Danube both flow to the sea.", id=documents[1].id, meta={"name": "Rivers"})])
    remaining = changed.get_all_documents()
    at_once = SparseBM25DocumentStore(progress_bar=False, bm25_method=method)
    at_once.write_documents(remaining)
    for question in QUESTIONS + ["Tiber Danube sea", "Tokyo Japan yen"]:
        got = {d.id: d.score for d in changed.query(question, top_k=20, scale_score=False)}
        expected = {d.id: d.score for d in at_once.query(question, top_k=20, scale_score=False)}
        assert got == pytest.approx(expected, rel=1e-5), question
    assert "Rivers" in names(changed.query("Tiber Danube sea", top_k=1))
    assert not any(name in ("Japan", "Nepal", "Italy") for name in names(changed.get_all_documents()))


def test_a_store_restored_from_saved_state_takes_writes_as_one_built_at_once(store):
    restored = SparseBM25DocumentStore.from_state(store.index_state(), store.get_all_documents(), progress_bar=False)
    extra = Document(content="Canberra is the capital of Australia, not Sydney.", meta={"name": "Australia"})
    restored.write_documents([extra])
    at_once = SparseBM25DocumentStore(progress_bar=False)
    at_once.write_documents(facts() + [extra])
    for question in QUESTIONS + ["capital of Australia"]:
        got = {d.id: d.score for d in restored.query(question, top_k=20, scale_score=False)}
        assert got == pytest.approx({d.id: d.score for d in at_once.query(question, top_k=20, scale_score=False)}, rel=1e-5)
