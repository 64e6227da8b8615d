"""Readiness over real HTTP: /health and Serve's check_health follow the document store, and recover by themselves.

The store is Haystack's SQLDocumentStore over a SQLite file, a real store that can be made to fail here
(Elasticsearch cannot run on this machine): the file's bytes are overwritten in place, as a lost or
half-restored volume would leave them, and written back afterwards. SQLite reads the file on every query, so
the running replica sees both. Questions read the store each time (FilterRetriever), as they do Elasticsearch.
"""
import json

import pytest
import requests

from helpers import wait_until_ready

pytestmark = pytest.mark.serve

YAML = """
version: 1.26.4.post0
components:
  - name: DocumentStore
    type: SQLDocumentStore
    params:
      url: sqlite:///{database}
  - name: Retriever
    type: FilterRetriever
    params:
      document_store: DocumentStore
  - name: Reader
    type: FARMReader
    params:
      model_name_or_path: {model}
      return_no_answer: true
      progress_bar: false
pipelines:
  - name: query
    nodes:
      - name: Retriever
        inputs: [Query]
      - name: Reader
        inputs: [Retriever]
"""
QUESTION = "What is the capital of Peru?"


@pytest.fixture(scope="module")
def sqlite_app(serve_url, qa_model, tmp_path_factory):
    from ray import serve

    from capitals_qa.serving.builders import build_single_app
    from capitals_qa.settings import ServiceSettings

    folder = tmp_path_factory.mktemp("sqlite-store")
    database = folder / "documents.db"
    (folder / "pipeline.yml").write_text(YAML.format(database=database, model=qa_model))
    records = [{"content": "Lima is the capital of Peru.", "meta": {"name": "Peru"}},
               {"content": "Rome is the capital of Italy.", "meta": {"name": "Italy"}}]
    (folder / "documents.jsonl").write_text("\n".join(json.dumps(record) for record in records))
    # No answer cache: a question during the outage must reach the store, not an answer kept from before it.
    settings = ServiceSettings(pipeline=str(folder / "pipeline.yml"), documents=str(folder / "documents.jsonl"), node_overrides={},
                               answer_cache_max_entries=0)
    # Serve's own periodic check would replace the replica during the outage; here the test calls it itself.
    app = build_single_app(settings, {"num_replicas": 1, "ray_actor_options": {"num_cpus": 1}, "health_check_period_s": 600})
    serve.run(app, name="sqlite-store", route_prefix="/sqlite-store")
    url = f"{serve_url}/sqlite-store"
    wait_until_ready(url)
    # check_health is the Pipeline replica's: it holds the store.
    yield url, database, serve.get_deployment_handle("Pipeline", app_name="sqlite-store")
    serve.delete("sqlite-store")


def test_health_and_check_health_fail_while_the_store_cannot_be_read_and_recover_by_themselves(sqlite_app):
    url, database, handle = sqlite_app
    assert requests.get(f"{url}/health", timeout=10).json()["document_count"] == 2
    assert requests.post(url, data=QUESTION, timeout=60).status_code == 200
    handle.check_health.remote().result(timeout_s=30)

    saved = database.read_bytes()
    with open(database, "r+b") as file:  # in place: the replica's open database sees it
        file.write(b"\0" * len(saved))
    try:
        health = requests.get(f"{url}/health", timeout=30)
        assert health.status_code == 503
        (reason,) = health.json()["errors"]
        assert "SQLDocumentStore" in reason and "cannot be read" in reason and "DatabaseError" in reason
        question = requests.post(url, data=QUESTION, timeout=60)
        assert question.status_code == 503 and "cannot be read" in question.json()["errors"][0]
        with pytest.raises(Exception, match="cannot be read"):
            handle.check_health.remote().result(timeout_s=30)
    finally:
        with open(database, "r+b") as file:
            file.write(saved)

    assert requests.get(f"{url}/health", timeout=10).status_code == 200
    handle.check_health.remote().result(timeout_s=30)
    answer = requests.post(url, data=QUESTION, timeout=60)
    assert answer.status_code == 200 and answer.text in "Lima is the capital of Peru. Rome is the capital of Italy."
