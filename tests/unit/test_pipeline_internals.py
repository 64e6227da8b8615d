"""Pins: each Haystack internal in capitals_qa/pipeline/internals.py still does what we rely on.

A Haystack upgrade that renames or changes one of them fails here, naming it, before anything is served.
"""
import threading

import pytest
from haystack import Pipeline
from haystack.document_stores import InMemoryDocumentStore
from haystack.nodes import BM25Retriever, FARMReader
from haystack.schema import Document

from capitals_qa.pipeline import internals
from capitals_qa.pipeline.nodes import WordWindowSplitter

pytestmark = pytest.mark.unit

DOCS = [Document(content="Rome is the capital of Italy.", meta={"name": "Italy"}),
        Document(content="Paris is the capital of France.", meta={"name": "France"}),
        Document(content="Madrid is the capital of Spain.", meta={"name": "Spain"})]


def test_pinned_haystack_version():
    import haystack

    assert haystack.__version__ == "1.26.4.post0"


def test_load_component_builds_a_node_and_reuses_the_store_it_names():
    definitions = {
        "DocumentStore": {"type": "InMemoryDocumentStore", "params": {"use_bm25": True}},
        "Retriever": {"type": "BM25Retriever", "params": {"document_store": "DocumentStore", "top_k": 3}},
    }
    components = {}
    retriever = internals.load_component("Retriever", definitions, components)
    assert isinstance(retriever, BM25Retriever) and retriever.top_k == 3
    assert components["DocumentStore"] is retriever.document_store
    assert internals.load_component("DocumentStore", definitions, components) is retriever.document_store


def test_component_class_finds_haystacks_and_our_nodes_by_name():
    assert internals.component_class("FARMReader") is FARMReader
    assert internals.component_class("WordWindowSplitter") is WordWindowSplitter


def test_run_node_runs_one_node_with_its_params_and_debug():
    store = InMemoryDocumentStore(use_bm25=True)
    store.write_documents(DOCS)
    retriever = BM25Retriever(document_store=store)
    retriever.name = "Retriever"
    node_input = {"root_node": "Query", "query": "capital of Italy", "params": {"Retriever": {"top_k": 1, "debug": True}}, "node_id": "Retriever"}
    output, edge = internals.run_node(retriever, node_input)
    assert edge == "output_1"
    assert [d.meta["name"] for d in output["documents"]] == ["Italy"]
    assert "Retriever" in output["_debug"]


def test_root_node_passes_the_query_on_under_its_name():
    output, edge = internals.run_node(internals.root_node("Query"), {"query": "q", "params": {"Query": {"debug": True}}})
    assert edge == "output_1" and "Query" in output["_debug"]


def test_in_memory_query_writes_scores_onto_stored_documents_which_is_why_queries_are_serialized():
    store = InMemoryDocumentStore(use_bm25=True)
    store.write_documents(DOCS)
    stored = store.indexes[store.index]
    store.query("Italy", top_k=1)
    assert any(document.score is not None for document in stored.values())  # the premise of serialize_queries
    internals.serialize_queries(store)
    results = []
    threads = [threading.Thread(target=lambda: results.append(store.query("capital", top_k=2))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 4 and all(len(hits) == 2 for hits in results)


def test_reader_predict_makes_its_model_call_through_the_routed_function(qa_model):
    reader = FARMReader(model_name_or_path=str(qa_model), progress_bar=False, num_processes=0)
    calls = []

    def counting(objects, **kwargs):
        calls.append(len(objects))
        return original(objects=objects, **kwargs)

    original = internals.route_model_calls(reader, counting)
    prediction = reader.predict(query="What is the capital of Italy?", documents=DOCS, top_k=1)
    assert calls == [3] and prediction["answers"]


def test_pipeline_component_loader_is_still_where_we_call_it():
    assert callable(Pipeline._load_or_get_component)
    with pytest.raises(Exception):
        internals.load_component("Missing", {}, {})


def test_time_nodes_sees_each_node_of_a_run_without_debug():
    store = InMemoryDocumentStore(use_bm25=True)
    store.write_documents(DOCS)
    pipeline = Pipeline()
    pipeline.add_node(BM25Retriever(document_store=store), name="Retriever", inputs=["Query"])
    timed = []
    internals.time_nodes(pipeline, lambda node, seconds: timed.append((node, seconds)))
    result = pipeline.run(query="capital of Italy", params={"Retriever": {"top_k": 1}})
    assert result["documents"][0].meta["name"] == "Italy"
    assert [node for node, _ in timed] == ["Retriever"] and 0 < timed[0][1] < 10


def test_reader_predict_runs_the_model_reader_model_returns(qa_model):
    import torch

    reader = FARMReader(model_name_or_path=str(qa_model), progress_bar=False, num_processes=0)
    calls = []
    # The inferencer calls the model's forward directly (no hooks there); its layers are called as modules.
    layer = next(m for m in internals.reader_model(reader).modules() if isinstance(m, torch.nn.Linear))
    hook = layer.register_forward_hook(lambda module, args, output: calls.append(module))
    try:
        assert reader.predict(query="What is the capital of Italy?", documents=DOCS, top_k=1)["answers"]
    finally:
        hook.remove()
    assert calls  # converting this module in place (reader precision) changes what every question runs


def test_in_memory_document_count_is_what_get_document_count_counts():
    from capitals_qa.pipeline.sparse_bm25 import SparseBM25DocumentStore

    for store in (InMemoryDocumentStore(use_bm25=True), SparseBM25DocumentStore()):
        assert internals.in_memory_document_count(store) == 0 == store.get_document_count()
        store.write_documents(DOCS)
        store.write_documents(DOCS[:1], duplicate_documents="skip")
        assert internals.in_memory_document_count(store) == 3 == store.get_document_count()
