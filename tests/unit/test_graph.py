"""The per-node walk: a pipeline's graph, and a question walked through one LocalNode per node by the ingress's
NodeGraph, against `Pipeline.run` of the same YAML, for a chain, the hybrid join and a branching pipeline.

Without Ray: each node's LocalNode (what a node replica runs) is reached through `InProcess`, which stands in for a
Serve handle (`.run.remote(...)` is awaited as Serve's would be); what crosses between nodes is pickled as it is
between replicas. tests/serve/test_per_node.py runs the same through Ray Serve.
"""
import asyncio
import copy
import json
from pathlib import Path
from typing import Dict

import pytest
import torch
import yaml

from capitals_qa.pipeline.graph import node_graph
from capitals_qa.pipeline.internals import combine_node_outputs
from capitals_qa.pipeline.results import query_response
from capitals_qa.pipeline.yaml_pipelines import StartupError, YamlPipelines, fill_document_store
from capitals_qa.serving.ingress.node_graph import NodeGraph
from capitals_qa.serving.replica.local_node import LocalNode
from capitals_qa.serving.replica.workers import TorchWorkers
from capitals_qa.settings import DEFAULT_PIPELINE_YAML, PROJECT_DIR, ServiceSettings
from capitals_qa.testing.models import dense_model

BM25 = PROJECT_DIR / "pipelines" / "bm25.yml"
COUNTRIES = str(PROJECT_DIR / "data" / "countries.jsonl")


@pytest.mark.unit
def test_pipelines_as_graphs():
    assert node_graph(YamlPipelines(BM25), "query") == (
        "Query", ["Retriever", "Reader"], [("Query", "output_1", "Retriever"), ("Retriever", "output_1", "Reader")])
    assert node_graph(YamlPipelines(DEFAULT_PIPELINE_YAML), "query") == ("Query", ["Retriever", "DenseRetriever", "JoinResults", "Reader"], [
        ("Query", "output_1", "Retriever"), ("Query", "output_1", "DenseRetriever"), ("Retriever", "output_1", "JoinResults"),
        ("DenseRetriever", "output_1", "JoinResults"), ("JoinResults", "output_1", "Reader")])
    assert YamlPipelines(DEFAULT_PIPELINE_YAML).store_node("query") == "DenseRetriever"  # it embeds uploads


@pytest.mark.unit
def test_a_pipeline_with_two_roots_is_refused(tmp_path):
    config = yaml.safe_load(DEFAULT_PIPELINE_YAML.read_text())
    config["pipelines"] = [{"name": "query", "nodes": [{"name": "Retriever", "inputs": ["Query"]}, {"name": "Reader", "inputs": ["File"]}]}]
    path = tmp_path / "two-roots.yml"
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(StartupError, match="two root nodes"):
        node_graph(YamlPipelines(path), "query")


@pytest.mark.unit
def test_combine_node_outputs_keeps_the_first_outputs_values():
    # Pinned: Pipeline._combine_node_outputs, which join_input reaches through pipeline/internals.py.
    assert combine_node_outputs({"query": "a", "documents": [1], "params": {}, "x": 1}, {"query": "b", "documents": [2], "y": 2, "_debug": {}}) == {
        "query": "a", "documents": [1], "x": 1, "y": 2}


def branching_yaml(folder: Path) -> Path:
    """The BM25 pipeline behind a decision node: questions to its retriever, keywords to a second one that keeps 2
    passages; both feed the Reader."""
    config = yaml.safe_load(BM25.read_text())
    config["components"] += [{"name": "Classifier", "type": "KeywordQueryClassifier"},
                             {"name": "KeywordRetriever", "type": "BM25Retriever", "params": {"document_store": "DocumentStore", "top_k": 2}}]
    config["pipelines"][0]["nodes"] = [
        {"name": "Classifier", "inputs": ["Query"]},
        {"name": "Retriever", "inputs": ["Classifier.output_1"]},
        {"name": "KeywordRetriever", "inputs": ["Classifier.output_2"]},
        {"name": "Reader", "inputs": ["Retriever", "KeywordRetriever"]},
    ]
    path = folder / "branching.yml"
    path.write_text(yaml.safe_dump(config))
    return path


class InProcess:
    """A LocalNode where NodeGraph expects a Serve handle: `handle.run.remote(...)` is awaited, as Serve's is; its
    replica is running from the start (what the ingress's start-up gate asks a handle)."""

    def __init__(self, local: LocalNode):
        self.local = local
        self.deployment_name = local.name
        self.run = _Method(local.run)
        self.finish = _Method(lambda *args: asyncio.sleep(0, local.finish(*args)))

    def options(self) -> "InProcess":
        return self

    def running_replicas_populated(self) -> bool:
        return True


class _Method:
    def __init__(self, method):
        self.method = method

    def remote(self, *args):
        return self.method(*args[:5]) if self.method.__name__ == "run" else self.method(*args)


def walked(yaml_path: Path, qa_model, overrides: Dict[str, str]) -> NodeGraph:
    settings = ServiceSettings(pipeline=str(yaml_path), documents=COUNTRIES, store_cache="", write_log="", feedback_db="",
                               node_overrides={"READER_PARAMS_MODEL_NAME_OR_PATH": str(qa_model), **overrides})
    root, names, edges = node_graph(YamlPipelines(settings.pipeline, settings.node_overrides), "query")
    nodes = {name: InProcess(LocalNode(settings, name, TorchWorkers(1), has_gpu=False)) for name in names}
    return NodeGraph(settings, root, nodes, edges)


def whole(yaml_path: Path, qa_model, overrides: Dict[str, str]):
    pipelines = YamlPipelines(yaml_path, {"READER_PARAMS_MODEL_NAME_OR_PATH": str(qa_model), **overrides})
    pipeline = pipelines.load("query")
    fill_document_store(pipelines, pipeline.get_document_store(), COUNTRIES, None)
    return pipeline


DENSE = {"DENSERETRIEVER_PARAMS_EMBEDDING_MODEL": dense_model()}
CASES = {
    "chain": (lambda folder: BM25, {}, ["What is the capital of Italy?"]),
    "hybrid": (lambda folder: DEFAULT_PIPELINE_YAML, DENSE, ["What is the capital of Italy?"]),
    "branching": (branching_yaml, {}, ["What is the capital of Italy?", "capital Italy Rome"]),
}


@pytest.mark.slow  # tens of seconds: each case loads every node of its pipeline, then the pipeline whole
@pytest.mark.parametrize("case", CASES)
def test_a_question_walked_node_by_node_gives_what_pipeline_run_gives(case, qa_model, tmp_path):
    torch.set_num_threads(1)
    make_yaml, overrides, questions = CASES[case]
    yaml_path = make_yaml(tmp_path)
    graph, pipeline = walked(yaml_path, qa_model, overrides), whole(yaml_path, qa_model, overrides)
    if case == "hybrid":  # the bundled countries carry no embeddings: both stores embed them, alike
        for node in graph.nodes.values():
            if node.local.store is not None and hasattr(node.local.component, "embed_documents"):
                node.local.store.update_embeddings(node.local.component)
            elif node.local.store is not None:
                node.local.store.update_embeddings(pipeline.get_node("DenseRetriever"))
        pipeline.get_document_store().update_embeddings(pipeline.get_node("DenseRetriever"))
    for question in questions:
        for params, debug in [(None, False), ({"Reader": {"top_k": 2}}, True), ({"top_k": 3}, False)]:
            got = asyncio.run(graph.run(question, copy.deepcopy(params), debug))
            expected = query_response(pipeline.run(query=question, params=json.loads(json.dumps(params)), debug=debug), debug)
            strip = lambda result: {k: v for k, v in result.items() if k != "_debug" and not k.startswith("_")}  # noqa: E731
            assert strip(got) == strip(expected) and got["answers"], (case, question, params)
            if debug:
                assert set(got["_debug"]) == set(expected["_debug"]), (case, question)
        if case == "hybrid":
            searched = asyncio.run(graph.retrieve(question, {"filters": {"name": ["Italy"]}}))
            assert searched["documents"] and {d["meta"]["name"] for d in searched["documents"]} == {"Italy"}
