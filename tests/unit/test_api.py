"""The HTTP API with FastAPI's TestClient over a fake backend: every route, status and error body, no Ray."""
import asyncio
import json

import pytest
from fastapi.testclient import TestClient

from capitals_qa.api.app import create_api
from capitals_qa.api.backend import Backend, BodyLimits, Served
from fake_backend import FakeBackend

pytestmark = pytest.mark.unit

def client_for(backend: Backend, limits=BodyLimits(max_question_bytes=100, max_query_bytes=400)) -> TestClient:
    return TestClient(create_api(lambda: Served(backend, limits)), raise_server_exceptions=False)


@pytest.fixture
def backend():
    return FakeBackend()


@pytest.fixture
def client(backend):
    return client_for(backend)


def test_plain_text_question_gets_the_best_answer_as_text(client, backend):
    response = client.post("/", content="  What is the capital of Italy?\n".encode())
    assert response.status_code == 200 and response.text == "Rome"
    assert response.headers["content-type"].startswith("text/plain")
    assert backend.calls == [("What is the capital of Italy?", None, False)]


def test_no_answer_is_the_empty_string(backend):
    assert client_for(FakeBackend(answers=[])).post("/", content=b"Who?").text == ""


def test_query_returns_haystack_shapes(client, backend):
    body = {"query": "What is the capital of Italy?", "params": {"Retriever": {"top_k": 3}}}
    response = client.post("/query", json=body)
    assert response.status_code == 200
    assert response.json() == {
        "query": "What is the capital of Italy?",
        "answers": [{
            "answer": "Rome", "type": "extractive", "score": 0.8, "context": "Rome is the capital of Italy.",
            "offsets_in_document": [{"start": 0, "end": 4}], "offsets_in_context": [{"start": 0, "end": 4}],
            "document_ids": ["doc-italy"], "meta": {"name": "Italy"},
        }],
        "documents": [{"id": "doc-italy", "content": "Rome is the capital of Italy.", "content_type": "text", "meta": {"name": "Italy"}, "score": 0.9}],
    }
    assert backend.calls == [(body["query"], body["params"], False)]


def test_debug_adds_the_nodes_debug_output_and_only_when_asked(client, backend):
    debugged = client.post("/query", json={"query": "x", "debug": True}).json()
    assert debugged["_debug"]["Retriever"]["output"]["documents"][0]["id"] == "doc-italy"
    assert "_debug" not in client.post("/query", json={"query": "x"}).json()
    assert [debug for _, _, debug in backend.calls] == [True, False]


def test_health_and_haystack_status_endpoints(client):
    health = client.get("/health").json()
    assert health["ready"] is True and health["nodes"] == ["Retriever", "Reader"] and health["document_count"] == 1
    assert set(health["versions"]) == {"haystack", "ray"} and health["node_status"] is None
    assert client.get("/initialized").json() is True
    assert client.get("/hs_version").json()["hs_version"].startswith("1.26")


@pytest.mark.parametrize(
    "method, path, body, status, mentions",
    [
        ("POST", "/", b"", 400, "empty"),
        ("POST", "/", b" \t\n", 400, "empty"),
        ("POST", "/", b"\xff\xfeWhat?", 400, "not valid UTF-8 (byte 0)"),
        ("POST", "/", b"q" * 101, 413, "limit of 100 bytes"),
        ("POST", "/query", b'{"query": ', 400, "not valid JSON"),
        ("POST", "/query", b'"What?"', 422, "JSON object"),
        ("POST", "/query", b"{}", 422, "query: field required"),
        ("POST", "/query", b'{"query": 1}', 422, "query: str type expected"),
        ("POST", "/query", b'{"query": "x", "debug": "yes"}', 422, "debug"),
        ("POST", "/query", b'{"query": "x", "other": 1}', 422, "other: extra fields not permitted"),
        ("POST", "/query", b'{"query": "x", "params": {"Ranker": {}}}', 400, "its nodes are ['Reader', 'Retriever']"),
        ("POST", "/query", b'{"query": "x", "params": {"Reader": {"top_k": 0}}}', 400, "params.Reader.top_k must be a whole number"),
        ("POST", "/query", b'{"query": "x", "params": {"filters": {"name": "Italy"}}}', 400, "this store ignores filters"),
        ("POST", "/query", json.dumps({"query": "x" * 500}).encode(), 413, "limit of 400 bytes"),
        ("POST", "/", b"\xc2\x83", 400, "no letters or digits"),
        ("POST", "/query", b'{"query": "\xc2\x83?"}', 400, "no letters or digits"),
        ("POST", "/query", b'{"query": "x", "params": ' + b"[" * 150 + b"]" * 150 + b"}", 400, "nests 151 levels deep"),
        ("POST", "/query", b'{"query": "x", "params": {"Retriever": {"index": "../../etc"}}}', 400, "cannot be set by a request"),
        ("POST", "/query", b'{"query": "x", "params": {"Retriever": {"top_k": 100000}}}', 400, "must be at most 200"),
        ("GET", "/nowhere", None, 404, "Not Found"),
        ("GET", "/query", None, 405, "Method Not Allowed"),
        ("PUT", "/", None, 405, "Method Not Allowed"),
    ],
)
def test_bad_requests_get_json_errors_and_never_reach_the_backend(client, backend, method, path, body, status, mentions):
    response = client.request(method, path, content=body)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    errors = response.json()["errors"]
    assert errors and mentions in " ".join(errors)
    assert backend.calls == []


def test_a_declared_length_over_the_limit_is_refused_before_reading(client):
    response = client.post("/", content=b"short", headers={"content-length": "5000"})
    assert response.status_code == 413


def test_haystack_refusing_a_parameter_value_is_the_clients_400():
    error = Exception("Exception while running node 'Retriever'")
    error.__cause__ = ValueError("Unsupported filter operator $near")
    failing = client_for(FakeBackend(error=error))
    response = failing.post("/query", json={"query": "x", "params": {"Retriever": {"top_k": 2}}})
    assert response.status_code == 400 and response.json() == {"errors": ["params: Unsupported filter operator $near"]}


def test_an_unexpected_failure_is_a_json_500_quoting_the_request_id():
    failing = client_for(FakeBackend(error=RuntimeError("model exploded")))
    response = failing.post("/", content=b"What?", headers={"x-request-id": "req-42"})
    assert response.status_code == 500
    assert response.json() == {"errors": ["internal error while answering (request id req-42)"]}
    assert "model exploded" not in response.text


def test_the_backend_is_asked_for_at_each_request():
    current = [FakeBackend(answers=[])]
    limits = BodyLimits(100, 100)
    client = TestClient(create_api(lambda: Served(current[0], limits)))
    assert client.post("/", content=b"q").text == ""
    current[0] = FakeBackend()
    assert client.post("/", content=b"q").text == "Rome"


def test_openapi_describes_routes_bodies_and_error_shape(client):
    spec = client.get("/openapi.json").json()
    assert {"/", "/query", "/health", "/initialized", "/hs_version"} <= set(spec["paths"])
    query = spec["paths"]["/query"]["post"]
    assert query["requestBody"]["content"]["application/json"]["schema"]["required"] == ["query"]
    assert query["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/QueryResponse")
    assert query["responses"]["400"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorResponse")
    assert "text/plain" in spec["paths"]["/"]["post"]["requestBody"]["content"]
    served_answer = client.post("/query", json={"query": "x"}).json()["answers"][0]
    assert set(served_answer) == set(spec["components"]["schemas"]["AnswerModel"]["properties"])


def test_an_overloaded_backend_is_a_json_503_with_retry_after():
    from capitals_qa.api.errors import Overloaded

    client = client_for(FakeBackend(error=Overloaded("overloaded: a question would wait about 9.0 s", retry_after_s=7)))
    for path, body in (("/", b"What?"), ("/query", b'{"query": "What?"}')):
        response = client.post(path, content=body)
        assert response.status_code == 503 and response.headers["retry-after"] == "7"
        assert "would wait" in response.json()["errors"][0]


class SlowBackend(FakeBackend):
    def __init__(self, seconds: float):
        super().__init__()
        self.seconds = seconds
        self.finished = 0

    async def run(self, query, params, debug):
        await asyncio.sleep(self.seconds)
        self.finished += 1
        return await super().run(query, params, debug)


def test_a_question_past_its_time_limit_is_a_json_504_and_is_cancelled():
    backend = SlowBackend(2.0)
    client = TestClient(create_api(lambda: Served(backend, BodyLimits(100, 400), question_timeout_s=0.1)))
    response = client.post("/", content=b"What?")
    assert response.status_code == 504
    assert "longer than the limit of 0.1 s" in response.json()["errors"][0]
    assert backend.finished == 0  # cancelled, not left running


class FlakyStoreBackend(FakeBackend):
    def __init__(self):
        super().__init__()
        self.down = False

    async def problems(self):
        return ["the document store (X) cannot be read: ConnectionError"] if self.down else []


def test_health_is_503_with_the_reason_while_the_backend_cannot_answer_and_200_again_after():
    backend = FlakyStoreBackend()
    client = client_for(backend)
    assert client.get("/health").status_code == 200
    backend.down = True
    response = client.get("/health")
    assert response.status_code == 503 and "cannot be read" in response.json()["errors"][0]
    backend.down = False
    assert client.get("/health").status_code == 200
