"""Uploads, documents and feedback over HTTP (TestClient) on a single-mode replica's backend (LocalPipeline: the
real pipeline, store and write log), in this process."""
import asyncio
import json
import time
from typing import Any, Dict, List

import jsonschema
import pytest
from fastapi.testclient import TestClient

from capitals_qa.api.app import create_api
from capitals_qa.api.backend import BodyLimits, Served
from capitals_qa.serving.replica.local_pipeline import LocalPipeline
from capitals_qa.serving.replica.workers import TorchWorkers
from capitals_qa.settings import PROJECT_DIR, ServiceSettings
from capitals_qa.testing.models import local_model_overrides

pytestmark = pytest.mark.unit

# The 248 short country documents: quick to load (the default corpus has 20k passages).
COUNTRIES = str(PROJECT_DIR / "data" / "countries.jsonl")
QUUX = b"Zorblax is the capital of Quuxland. Quuxland lies beyond the Glimmer Sea and trades in violet salt."


def open_replica(qa_model, state_dir) -> LocalPipeline:
    """What a single-mode replica runs, without Ray: the pipeline, its store and the write log it follows."""
    settings = ServiceSettings(documents=COUNTRIES, store_cache="", write_log=str(state_dir / "writes.sqlite"),
                               feedback_db=str(state_dir / "feedback.sqlite"),
                               node_overrides=local_model_overrides(qa_model))
    return LocalPipeline(settings, TorchWorkers(1), has_gpu=False)


@pytest.fixture(scope="module")
def state_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("state")


@pytest.fixture(scope="module")
def replica(qa_model, state_dir):
    return open_replica(qa_model, state_dir)


@pytest.fixture(scope="module")
def client(replica):
    limits = BodyLimits(max_question_bytes=4096, max_query_bytes=65536, max_upload_bytes=64 * 1024)
    return TestClient(create_api(lambda: Served(replica, limits)), raise_server_exceptions=False)


def names_of(client, filters) -> List[str]:
    response = client.post("/documents/get_by_filters", json={"filters": filters})
    assert response.status_code == 200, response.text
    return [doc["meta"]["name"] for doc in response.json()]


def test_upload_indexes_readable_files_and_refuses_the_others_by_name(client):
    files = [("files", ("quux.txt", QUUX, "text/plain")), ("files", ("empty.txt", b" \n", "text/plain")),
             ("files", ("latin1.txt", "Caf\xe9 de Par\xeds".encode("latin-1"), "text/plain"))]
    response = client.post("/file-upload", files=files, data={"meta": json.dumps({"source": "test"})})
    assert response.status_code == 400
    body = response.json()
    assert body["errors"] == ["empty.txt: empty", "latin1.txt: not UTF-8 (byte 3)"]
    assert body["files"][0] == {"name": "quux.txt", "documents": 1}
    found = client.post("/documents/get_by_filters", json={"filters": {"name": ["quux.txt"]}}).json()
    assert len(found) == 1 and found[0]["content"] == QUUX.decode() and found[0]["meta"]["source"] == "test"
    assert names_of(client, {"name": ["empty.txt", "latin1.txt"]}) == []
    # The retriever finds it: it is in the BM25 index, not only in the store.
    answer = client.post("/query", json={"query": "What is the capital of Quuxland?", "params": {"Retriever": {"top_k": 1}}})
    assert answer.json()["documents"][0]["meta"]["name"] == "quux.txt"


def test_upload_takes_haystacks_preprocessor_fields(client):
    text = " ".join(f"word{i}" for i in range(50)).encode()
    response = client.post("/file-upload", files=[("files", ("words.txt", text))], data={"split_length": "20", "split_overlap": "0"})
    assert response.status_code == 200 and response.json() == {"files": [{"name": "words.txt", "documents": 3}]}
    bad = client.post("/file-upload", files=[("files", ("words.txt", text))], data={"split_length": "many"})
    assert bad.status_code == 422 and "split_length" in bad.json()["errors"][0]
    refused = client.post("/file-upload", files=[("files", ("words.txt", text))], data={"split_length": "10", "split_overlap": "10"})
    assert refused.status_code == 400 and "split_overlap" in refused.json()["errors"][0]


@pytest.mark.parametrize("form, files, status, message", [
    ({}, [("attachment", ("a.txt", b"text"))], 422, "files: field required"),
    ({"meta": "{not json"}, [("files", ("a.txt", b"text"))], 422, "meta: not valid JSON"),
    ({"meta": "[1, 2]"}, [("files", ("a.txt", b"text"))], 422, "meta: must be a JSON object"),
])
def test_malformed_upload_forms_get_a_message_naming_the_field(client, form, files, status, message):
    response = client.post("/file-upload", data=form, files=files)
    assert response.status_code == status and message in response.json()["errors"][0]


def test_an_upload_that_is_not_a_multipart_form_is_refused_before_it_is_parsed(client):
    # Starlette parses url-encoded forms without bounds on their fields: such a body never reaches the parser.
    response = client.post("/file-upload", content=b"files=" + b"a&x=" * 5000, headers={"content-type": "application/x-www-form-urlencoded"})
    assert response.status_code == 415 and "multipart/form-data" in response.json()["errors"][0]


def test_upload_over_the_size_limit_is_refused_with_413(client):
    response = client.post("/file-upload", files=[("files", ("big.txt", b"word " * 20_000))])
    assert response.status_code == 413 and "65536 bytes" in response.json()["errors"][0]
    assert names_of(client, {"name": ["big.txt"]}) == []


def test_delete_by_filters_removes_documents_from_store_and_index(client):
    client.post("/file-upload", files=[("files", ("doomed.txt", b"Doomland's capital is Gloomtown."))])
    assert names_of(client, {"name": ["doomed.txt"]}) == ["doomed.txt"]
    response = client.post("/documents/delete_by_filters", json={"filters": {"name": ["doomed.txt"]}})
    assert response.status_code == 200 and response.json() is True
    assert names_of(client, {"name": ["doomed.txt"]}) == []
    hits = client.post("/query", json={"query": "Gloomtown Doomland", "params": {"Retriever": {"top_k": 3}}}).json()
    assert "doomed.txt" not in [doc["meta"]["name"] for doc in hits["documents"]]
    assert len(names_of(client, {"name": ["Italy"]})) == 1  # the rest stay


def test_bad_filters_get_400(client):
    for filters in ({"$and": "name"}, {"name": {"$in": 3}}):
        for path in ("/documents/get_by_filters", "/documents/delete_by_filters"):
            response = client.post(path, json={"filters": filters})
            assert response.status_code == 400 and response.json()["errors"][0].startswith("filters: "), (path, filters)
    assert client.post("/documents/delete_by_filters", json={"filters": "name"}).status_code == 422


def test_a_replica_started_later_has_every_upload_and_follows_new_ones_within_2_s(client, qa_model, state_dir):
    late = open_replica(qa_model, state_dir)
    late_client = TestClient(create_api(lambda: Served(late, BodyLimits(4096, 65536))))
    count = client.get("/health").json()["document_count"]
    assert late_client.get("/health").json()["document_count"] == count
    assert names_of(late_client, {"name": ["quux.txt"]}) == ["quux.txt"]

    def late_count_becomes(expected: int) -> None:
        # /health reads the store as it is: only the late replica's own polling of the log can change it.
        deadline = time.monotonic() + 2
        while late_client.get("/health").json()["document_count"] != expected:
            assert time.monotonic() < deadline, f"the other replica did not reach {expected} documents within 2 s"
            time.sleep(0.05)

    client.post("/file-upload", files=[("files", ("after.txt", b"Afterland's capital is Latertown."))])
    late_count_becomes(count + 1)
    assert late.served_store.store.query("Latertown Afterland", top_k=1)[0].meta["name"] == "after.txt"
    client.post("/documents/delete_by_filters", json={"filters": {"name": ["after.txt"]}})
    late_count_becomes(count)


def feedback_on_rome(correct: bool, **changes) -> Dict[str, Any]:
    context = "Rome is the capital of Italy."
    return {
        "query": "What is the capital of Italy?",
        "document": {"id": "doc-italy", "content": context, "meta": {"name": "Italy"}},
        "answer": {"answer": "Rome", "type": "extractive", "score": 0.9, "context": context,
                   "offsets_in_document": [{"start": 0, "end": 4}], "offsets_in_context": [{"start": 0, "end": 4}],
                   "document_ids": ["doc-italy"], "meta": {"name": "Italy"}},
        "is_correct_answer": correct, "is_correct_document": correct, "origin": "user-feedback", **changes,
    }


def test_feedback_is_stored_counted_exported_and_survives_a_restart(client, qa_model, state_dir):
    client.delete("/feedback")
    assert client.post("/feedback", json=feedback_on_rome(True, id="good")).status_code == 200
    assert client.post("/feedback", json=feedback_on_rome(False, id="bad")).status_code == 200
    assert client.post("/feedback", json=feedback_on_rome(True, id="gold", origin="gold-label")).status_code == 200
    labels = client.get("/feedback").json()
    assert sorted(label["id"] for label in labels) == ["bad", "gold", "good"]
    assert next(l for l in labels if l["id"] == "good")["answer"]["answer"] == "Rome"
    metrics = client.post("/eval-feedback", json={"filters": {}}).json()
    assert metrics == {"answer_accuracy": 0.5, "document_accuracy": 0.5, "n_feedback": 2}  # gold labels are not users'
    export = client.get("/export-feedback", params={"only_positive_labels": "true"}).json()
    [entry] = export["data"]
    paragraph = entry["paragraphs"][0]
    answer = paragraph["qas"][0]["answers"][0]
    assert paragraph["context"][answer["answer_start"]:][:4] == "Rome" and paragraph["qas"][0]["id"] == "good"
    # A restarted replica (a new process opening the same file) has them all.
    restarted = open_replica(qa_model, state_dir)
    assert sorted(label["id"] for label in asyncio.run(restarted.labels())) == ["bad", "gold", "good"]
    client.delete("/feedback")
    assert [label["id"] for label in client.get("/feedback").json()] == ["gold"]
    assert client.post("/eval-feedback").json() == {"answer_accuracy": None, "document_accuracy": None, "n_feedback": 0}


def test_feedback_of_the_wrong_shape_gets_422_naming_the_field(client):
    response = client.post("/feedback", json=feedback_on_rome(True, is_correct_answer="maybe"))
    assert response.status_code == 422 and response.json()["errors"][0].startswith("body.is_correct_answer")


@pytest.mark.parametrize("field, value", [("type", False), ("type", "False"), ("answer", 7), ("document_ids", [1])])
def test_feedback_whose_answer_haystack_cannot_read_gets_422_naming_the_field_and_is_not_stored(client, field, value):
    # pydantic 1 would make "False" of false; Haystack's Answer takes extractive, generative or other, and strings.
    feedback = feedback_on_rome(True, id="unreadable")
    feedback["answer"][field] = value
    response = client.post("/feedback", json=feedback)
    assert response.status_code == 422 and response.json()["errors"][0].startswith(f"body.answer.{field}"), response.text
    assert "unreadable" not in [label["id"] for label in client.get("/feedback").json()]


def test_health_carries_haystack_rest_fields_next_to_ours(client):
    health = client.get("/health").json()
    assert health["ready"] is True and health["document_count"] > 248
    assert health["version"] == health["versions"]["haystack"]
    assert 0 <= health["cpu"]["used"] and 0 < health["memory"]["used"] < 100
    assert isinstance(health["gpus"], list)


def assert_described(spec: Dict[str, Any], path: str, method: str, response) -> None:
    """The response's body matches what /openapi.json says this path sends with this status and content type."""
    media_type = response.headers["content-type"].split(";")[0]
    described = spec["paths"][path][method]["responses"][str(response.status_code)]["content"]
    assert media_type in described, f"{method.upper()} {path} {response.status_code}: sends {media_type}, described {list(described)}"
    schema = described[media_type].get("schema", {})
    body = response.json() if media_type == "application/json" else response.text
    jsonschema.Draft202012Validator({**schema, "components": spec["components"]}).validate(body)


def test_responses_match_the_openapi_description(client):
    spec = client.get("/openapi.json").json()
    client.post("/feedback", json=feedback_on_rome(True, id="described"))
    calls = [
        ("/", "post", client.post("/", content=b"What is the capital of Quuxland?")),
        ("/", "post", client.post("/", content=b"   ")),
        ("/query", "post", client.post("/query", json={"query": "What is the capital of Quuxland?", "debug": True})),
        ("/query", "post", client.post("/query", json={"query": 3})),
        ("/health", "get", client.get("/health")),
        ("/documents/get_by_filters", "post", client.post("/documents/get_by_filters", json={"filters": {"name": ["quux.txt"]}})),
        ("/documents/get_by_filters", "post", client.post("/documents/get_by_filters", json={"filters": {"$and": "x"}})),
        ("/file-upload", "post", client.post("/file-upload", files=[("files", ("e.txt", b""))])),
        ("/file-upload", "post", client.post("/file-upload", files=[("files", ("ok.txt", b"Okland's capital is Oktown."))])),
        ("/feedback", "get", client.get("/feedback")),
        ("/eval-feedback", "post", client.post("/eval-feedback", json={})),
    ]
    for path, method, response in calls:
        assert_described(spec, path, method, response)
    # Nulls the description used to forbid were among them.
    assert calls[4][2].json()["node_status"] is None
    no_answer = {"answer": "", "type": "extractive", "score": 0.1, "context": None, "offsets_in_document": None,
                 "offsets_in_context": None, "document_ids": None, "meta": {}}
    answer_schema = spec["components"]["schemas"]["AnswerModel"]
    jsonschema.Draft202012Validator({**answer_schema, "components": spec["components"]}).validate(no_answer)


def test_haystack_demo_ui_client_calls_work_unchanged(client):
    """The requests Haystack 1.x's demo UI (ui/utils.py) makes for upload, query and feedback, as it makes them."""
    import io

    upload = client.post("/file-upload", files=[("files", ("demo.txt", io.BytesIO(b"Demoville is the capital of Demoland.")))])
    assert upload.status_code == 200 and upload.json()["files"][0]["documents"] == 1
    params = {"filters": {}, "Retriever": {"top_k": 5}, "Reader": {"top_k": 5}}
    response = client.post("/query", json={"query": "What is the capital of Demoland?", "params": params})
    assert response.status_code == 200 and "errors" not in response.json()
    result = response.json()
    answer = next(a for a in result["answers"] if a.get("answer"))
    document = next(d for d in result["documents"] if d["id"] == answer["document_ids"][0])
    feedback = {"query": "What is the capital of Demoland?", "document": document, "is_correct_answer": True,
                "is_correct_document": True, "origin": "user-feedback", "answer": answer}
    assert client.post("/feedback", json=feedback).status_code < 400
    stored = [label for label in client.get("/feedback").json() if label["query"] == "What is the capital of Demoland?"]
    assert stored and stored[0]["document"]["id"] == document["id"] and stored[0]["answer"]["answer"] == answer["answer"]
