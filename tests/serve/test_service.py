"""The default application over real HTTP: real Ray Serve, the real pipeline.yml, FARMReader on a local model."""
import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from capitals_qa.pipeline.documents import read_records_file
from capitals_qa.settings import DEFAULT_DOCUMENTS
from ray_helpers import imported_modules, replica_logs, replicas_by_pid

pytestmark = pytest.mark.serve

ITALY = "What is the capital of Italy?"


def query(url, body, **kwargs):
    return requests.post(f"{url}/query", json=body, timeout=60, **kwargs)


def test_plain_text_question_gets_a_span_of_a_retrieved_document(qa_url):
    answer = requests.post(qa_url, data=ITALY, timeout=60)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    documents = query(qa_url, {"query": ITALY}).json()["documents"]
    assert answer.text, "the local model is built so that a span outscores no-answer"
    assert any(answer.text in document["content"] for document in documents)


def test_plain_text_body_is_decoded_as_utf8_not_bytes_repr(qa_url):
    question = "Quelle est la capitale de l'Autriche, Österreich?"
    answer = requests.post(qa_url, data=question.encode("utf-8"), timeout=60)
    assert answer.status_code == 200
    response = query(qa_url, {"query": question}).json()
    assert response["query"] == question
    assert answer.text == response["answers"][0]["answer"]
    assert not answer.text.startswith("b'")


def test_the_embedded_wikipedia_passages_hold_what_newcomers_ask(qa_url):
    documents = query(qa_url, {"query": "Which river flows through Budapest?"}).json()["documents"]
    assert documents[0]["meta"]["name"] == "Budapest" and "Danube" in documents[0]["content"]
    assert all(document["meta"].get("name") for document in documents)


def test_answers_point_at_their_text_in_context_and_document(qa_url):
    response = query(qa_url, {"query": ITALY, "params": {"Reader": {"top_k": 5}}}).json()
    documents = {document["id"]: document for document in response["documents"]}
    spans = [answer for answer in response["answers"] if answer["answer"]]
    assert spans
    for answer in spans:
        in_context = answer["offsets_in_context"][0]
        assert answer["context"][in_context["start"] : in_context["end"]] == answer["answer"]
        assert answer["document_ids"] and set(answer["document_ids"]) <= set(documents)
        content = documents[answer["document_ids"][0]]["content"]
        in_document = answer["offsets_in_document"][0]
        assert content[in_document["start"] : in_document["end"]] == answer["answer"]
        assert answer["meta"]["name"] == documents[answer["document_ids"][0]]["meta"]["name"]


@pytest.mark.parametrize(
    "params",
    [None, {"Retriever": {"top_k": 3}, "Reader": {"top_k": 2}}, {"top_k": 4}],
    ids=["defaults", "per-node", "global-top_k"],
)
def test_query_gives_what_pipeline_run_gives(qa_url, direct_pipeline, params):
    from capitals_qa.pipeline.results import query_response

    served = query(qa_url, {"query": ITALY, "params": params, "debug": False}).json()
    expected = query_response(direct_pipeline.run(query=ITALY, params=params), debug=False)
    assert served == json.loads(json.dumps(expected))


def test_debug_adds_each_nodes_input_and_output(qa_url):
    response = query(qa_url, {"query": ITALY, "debug": True}).json()
    assert {"Retriever", "Reader"} <= set(response["_debug"])
    assert "_debug" not in query(qa_url, {"query": ITALY}).json()


def test_per_node_params_limit_what_each_node_returns(qa_url):
    # Each retriever's top_k limits what reaches the join; the join's top_k_join what it hands the Reader.
    response = query(qa_url, {"query": ITALY, "params": {"Retriever": {"top_k": 2}, "DenseRetriever": {"top_k": 1}}}).json()
    assert 1 <= len(response["documents"]) <= 3
    wider = query(qa_url, {"query": ITALY, "params": {"JoinResults": {"top_k_join": 8}}}).json()
    assert len(wider["documents"]) == 8
    fewer = query(qa_url, {"query": ITALY, "params": {"JoinResults": {"top_k_join": 2}}}).json()
    assert len(fewer["documents"]) == 2


@pytest.mark.parametrize(
    "params",
    [{"filters": {"name": ["France"]}},
     {node: {"filters": {"name": {"$in": ["France", "Paris"]}}, "top_k": 8} for node in ("Retriever", "DenseRetriever")}],
)
def test_filters_on_the_embedded_store_choose_the_documents(qa_url, params):
    response = query(qa_url, {"query": ITALY, "params": params})
    assert response.status_code == 200
    names = {document["meta"]["name"] for document in response.json()["documents"]}
    assert names and names <= {"France", "Paris"}


def test_a_malformed_filter_is_refused_naming_it(qa_url):
    response = query(qa_url, {"query": ITALY, "params": {"filters": {"name": {"$nearby": "Rome"}}}})
    assert response.status_code == 400
    assert "$nearby" in response.json()["errors"][0]


TOO_LONG_QUESTION = "capital " * 1000  # 8000 bytes, over the default 4 KiB


@pytest.mark.parametrize(
    "method, path, body, headers, status, mentions",
    [
        ("POST", "/", b"", {}, 400, "empty"),
        ("POST", "/", b"   \n\t ", {}, 400, "empty"),
        ("POST", "/", b"\xff\xfeWhat?", {}, 400, "UTF-8"),
        ("POST", "/", TOO_LONG_QUESTION.encode(), {}, 413, "4096 bytes"),
        ("POST", "/query", b'{"query": "x"', {"content-type": "application/json"}, 400, "JSON"),
        ("POST", "/query", b'["What?"]', {}, 422, "JSON object"),
        ("POST", "/query", b"{}", {}, 422, "query"),
        ("POST", "/query", b'{"query": 42}', {}, 422, "query"),
        ("POST", "/query", b'{"query": "  "}', {}, 400, "empty"),
        ("POST", "/query", b'{"query": "x", "params": []}', {}, 422, "params"),
        ("POST", "/query", b'{"query": "x", "debug": "yes"}', {}, 422, "debug"),
        ("POST", "/query", b'{"query": "x", "extra": 1}', {}, 422, "extra"),
        ("POST", "/query", b'{"query": "x", "params": {"Ranker": {"top_k": 1}}}', {}, 400, "Retriever"),
        ("POST", "/query", b'{"query": "x", "params": {"Retriever": {"top_n": 1}}}', {}, 400, "top_n"),
        ("POST", "/query", b'{"query": "x", "params": {"Retriever": 3}}', {}, 400, "Retriever"),
        ("POST", "/query", b'{"query": "x", "params": {"Retriever": {"top_k": "3"}}}', {}, 400, "top_k"),
        ("POST", "/query", b'{"query": "x", "params": {"top_k": 0}}', {}, 400, "top_k"),
        ("POST", "/query", b'{"query": "x", "params": {"filters": "Italy"}}', {}, 400, "filters"),
        ("POST", "/query", b'{"query": "x", "params": {"documents": []}}', {}, 400, "documents"),
        ("POST", "/query", json.dumps({"query": "x" * 70000}).encode(), {}, 413, "bytes"),
        ("GET", "/nowhere", None, {}, 404, "Not Found"),
        ("GET", "/query", None, {}, 405, "Method Not Allowed"),
        ("DELETE", "/", None, {}, 405, "Method Not Allowed"),
    ],
)
def test_bad_input_gets_a_4xx_json_error_and_service_keeps_answering(qa_url, method, path, body, headers, status, mentions):
    response = requests.request(method, qa_url + path, data=body, headers=headers, timeout=60)
    assert response.status_code == status, response.text
    errors = response.json()["errors"]
    assert errors and all(isinstance(error, str) for error in errors)
    assert mentions in " ".join(errors)
    assert requests.post(qa_url, data=ITALY, timeout=60).status_code == 200


def test_sixteen_concurrent_questions_succeed_while_health_stays_responsive(qa_url):
    questions = [f"What is the capital of {country}?" for country in
                 ["Italy", "France", "Spain", "Japan", "Peru", "Kenya", "Chile", "Nepal"] * 2]
    with ThreadPoolExecutor(max_workers=len(questions)) as pool:
        answers = [pool.submit(requests.post, qa_url, data=q, timeout=120) for q in questions]
        health_latencies = []
        while not all(a.done() for a in answers):
            health = requests.get(f"{qa_url}/health", timeout=5)
            assert health.status_code == 200
            health_latencies.append(health.elapsed.total_seconds())
        statuses = [a.result().status_code for a in answers]
    assert statuses == [200] * len(questions)
    assert health_latencies and max(health_latencies) < 1.0, health_latencies


def test_health_reports_the_loaded_pipeline(qa_url):
    health = requests.get(f"{qa_url}/health", timeout=10).json()
    assert health["ready"] is True
    assert health["pipeline"] == "query"
    assert health["pipeline_yaml"].endswith("pipeline.yml")
    assert health["nodes"] == ["Retriever", "DenseRetriever", "JoinResults", "Reader"]
    assert health["document_count"] == len(read_records_file(DEFAULT_DOCUMENTS))
    assert set(health["versions"]) == {"haystack", "ray"}


def test_haystack_rest_api_status_endpoints(qa_url):
    assert requests.get(f"{qa_url}/initialized", timeout=10).json() is True
    assert requests.get(f"{qa_url}/hs_version", timeout=10).json()["hs_version"].startswith("1.26")


def test_openapi_describes_the_endpoints(qa_url):
    spec = requests.get(f"{qa_url}/openapi.json", timeout=10).json()
    assert {"/", "/query", "/health", "/initialized", "/hs_version"} <= set(spec["paths"])
    query_body = spec["paths"]["/query"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert query_body["required"] == ["query"] and set(query_body["properties"]) == {"query", "params", "debug"}
    assert "text/plain" in spec["paths"]["/"]["post"]["requestBody"]["content"]
    answer_fields = spec["components"]["schemas"]["AnswerModel"]["properties"]
    served = query(qa_url, {"query": ITALY}).json()
    assert set(served["answers"][0]) == set(answer_fields)
    assert requests.get(f"{qa_url}/docs", timeout=10).status_code == 200


def test_the_request_id_from_serves_proxy_reaches_our_question_log(qa_url, serve_logs):
    request_id = f"test-{uuid.uuid4().hex}"
    response = requests.post(qa_url, data=ITALY, headers={"x-request-id": request_id}, timeout=60)
    assert response.status_code == 200 and response.headers["x-request-id"] == request_id
    logs = serve_logs
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # replica logs are flushed shortly after the answer
        if any(f"question request_id={request_id}" in log.read_text(errors="replace") for log in replica_logs(logs)):
            return
        time.sleep(0.5)
    pytest.fail(f"no replica log line names request_id={request_id}")


def test_the_ingress_runs_no_model_code_and_the_pipeline_replica_does(qa_url):
    # After questions were answered through it: the ingress only awaits the Pipeline replica.
    assert requests.post(qa_url, data=ITALY, timeout=60).status_code == 200
    (ingress,) = replicas_by_pid("qa", "HaystackQA").values()
    (pipeline,) = replicas_by_pid("qa", "Pipeline").values()
    model_code = {"haystack", "transformers", "torch"}
    assert model_code & set(imported_modules(ingress)) == set()
    assert model_code <= set(imported_modules(pipeline))
