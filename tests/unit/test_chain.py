"""The chain walk: which pipelines split into per-node deployments, and running a question node by node."""
import json
import os
import pickle
import re

import pytest
import torch
import yaml

from capitals_qa.pipeline.results import query_response
from capitals_qa.pipeline.chain import node_chain, run_first_steps, run_step
from capitals_qa.pipeline.yaml_pipelines import StartupError, YamlPipelines
from capitals_qa.settings import DEFAULT_DOCUMENTS, DEFAULT_PIPELINE_YAML, PROJECT_DIR

pytestmark = pytest.mark.unit


def test_default_pipelines_split_into_a_chain():
    assert node_chain(YamlPipelines(DEFAULT_PIPELINE_YAML), "query") == ("Query", ["Retriever", "Reader"])
    for yaml_file in ("elasticsearch.yml", "elasticsearch_bm25.yml"):
        assert node_chain(YamlPipelines(PROJECT_DIR / "pipelines" / yaml_file), "query") == ("Query", ["Retriever", "Reader"])


GRAPHS = {
    "join": ("has inputs ['Retriever', 'Retriever2']", [
        {"name": "Retriever", "inputs": ["Query"]}, {"name": "Retriever2", "inputs": ["Query"]},
        {"name": "Join", "inputs": ["Retriever", "Retriever2"]}, {"name": "Reader", "inputs": ["Join"]}]),
    "fork": ("Retriever feeds Reader and Reader2", [
        {"name": "Retriever", "inputs": ["Query"]}, {"name": "Reader", "inputs": ["Retriever"]},
        {"name": "Reader2", "inputs": ["Retriever"]}]),
    "decision": ("decision node Classifier", [
        {"name": "Retriever", "inputs": ["Query"]}, {"name": "Classifier", "inputs": ["Retriever"]}]),
    "routed edge": ("routed edge Classifier.output_1", [
        {"name": "Retriever", "inputs": ["Classifier.output_1"]}, {"name": "Classifier", "inputs": ["Query"]}]),
}


@pytest.mark.parametrize("graph", GRAPHS)
def test_graphs_that_cannot_be_split_are_refused_with_the_reason(graph, tmp_path):
    reason, nodes = GRAPHS[graph]
    config = yaml.safe_load(DEFAULT_PIPELINE_YAML.read_text())
    config["components"] += [
        {"name": "Retriever2", "type": "BM25Retriever", "params": {"document_store": "DocumentStore"}},
        {"name": "Reader2", "type": "FARMReader", "params": {"model_name_or_path": "unused"}},
        {"name": "Join", "type": "JoinDocuments"},
        {"name": "Classifier", "type": "FileTypeClassifier"},
    ]
    config["pipelines"] = [{"name": "query", "nodes": nodes}]
    path = tmp_path / "graph.yml"
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(StartupError, match=re.escape(reason)):
        node_chain(YamlPipelines(path), "query")


@pytest.fixture(scope="module")
def pipelines(qa_model):
    torch.set_num_threads(1)
    return YamlPipelines(DEFAULT_PIPELINE_YAML, {"READER_PARAMS_MODEL_NAME_OR_PATH": str(qa_model)})


@pytest.mark.parametrize("params", [None, {"Retriever": {"top_k": 3}, "Reader": {"top_k": 2}}, {"top_k": 4}])
@pytest.mark.parametrize("debug", [False, True])
def test_a_question_run_node_by_node_gives_what_pipeline_run_gives(pipelines, params, debug):
    from capitals_qa.pipeline.yaml_pipelines import fill_document_store

    pipeline = pipelines.load("query")
    fill_document_store(pipelines, pipeline.get_document_store(), str(DEFAULT_DOCUMENTS), os.environ["STORE_CACHE_DIR"])
    root, chain = node_chain(pipelines, "query")

    # As the node deployments run it: the first node from the question, each next one from the output before,
    # which crossed processes pickled.
    question = "What is the capital of Italy?"
    output, _ = run_first_steps(root, chain[0], pipelines.component(chain[0]), {"query": question, "params": json.loads(json.dumps(params))}, debug)
    for name in chain[1:]:
        output, _ = run_step(name, pipelines.component(name), pickle.loads(pickle.dumps(output)), debug)
    walked = query_response(output, debug)
    whole = query_response(pipeline.run(query=question, params=json.loads(json.dumps(params)), debug=debug), debug)
    strip = lambda result: {k: v for k, v in result.items() if k != "_debug"}  # noqa: E731
    assert strip(walked) == strip(whole) and walked["answers"]
    if debug:
        assert set(walked["_debug"]) == set(whole["_debug"]) == {"Query", "Retriever", "Reader"}
        assert all("exec_time_ms" in node for node in walked["_debug"].values())
