"""/mcp's JSON-RPC over FastAPI's TestClient (the tools against a fake backend): every protocol error has its
JSON-RPC code and none is a 500; notifications get 202; the API key guards /mcp as every route."""
import json

import pytest
from fastapi.testclient import TestClient

from capitals_qa.api.access import Access
from capitals_qa.api.app import create_api
from capitals_qa.api.backend import BodyLimits, Served
from fake_backend import FakeBackend

pytestmark = pytest.mark.unit


@pytest.fixture
def client():
    return TestClient(create_api(lambda: Served(FakeBackend(), BodyLimits(4096, 4096))), raise_server_exceptions=False)


def call(client, message, **headers):
    return client.post("/mcp", content=message if isinstance(message, bytes) else json.dumps(message), headers=headers)


def test_initialize_negotiates_the_protocol_version(client):
    for asked, agreed in (("2025-03-26", "2025-03-26"), ("1999-01-01", "2025-06-18")):
        result = call(client, {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": asked}}).json()["result"]
        assert result["protocolVersion"] == agreed and result["capabilities"] == {"tools": {"listChanged": False}}


@pytest.mark.parametrize("message, status, code", [
    (b"{not json", 400, -32700),
    (b"\xff\xfe", 400, -32700),
    ([{"jsonrpc": "2.0", "id": 1, "method": "ping"}], 400, -32600),
    ({"jsonrpc": "1.0", "id": 1, "method": "ping"}, 400, -32600),
    ({"jsonrpc": "2.0", "id": True, "method": "ping"}, 400, -32600),
    ({"jsonrpc": "2.0", "id": 1, "method": "ping", "params": []}, 400, -32600),
    ({"jsonrpc": "2.0", "id": 1, "method": "resources/list"}, 200, -32601),
    ({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "nope"}}, 200, -32602),
    ({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "answer_question", "arguments": {"query": 3}}}, 200, -32602),
    ({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "answer_question", "arguments": {"query": "q", "params": {"Ranker": {}}}}}, 200, -32602),
    ({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "answer_question", "arguments": {"query": " "}}}, 200, -32602),
    ({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "search_documents", "arguments": {"query": "q"}}}, 200, -32601),
])
def test_protocol_errors_are_json_rpc_errors_never_a_500(client, message, status, code):
    response = call(client, message)
    assert response.status_code == status and response.json()["error"]["code"] == code, response.text
    assert response.json()["jsonrpc"] == "2.0"


def test_a_notification_gets_202_and_no_body_and_get_is_405(client):
    response = call(client, {"jsonrpc": "2.0", "method": "notifications/initialized"})
    assert response.status_code == 202 and response.content == b""
    assert client.get("/mcp").status_code == 405


def test_answer_question_returns_structured_answers_with_their_source(client):
    result = call(client, {"jsonrpc": "2.0", "id": "a", "method": "tools/call",
                           "params": {"name": "answer_question", "arguments": {"query": "What is the capital of Italy?"}}}).json()["result"]
    assert result["isError"] is False
    assert result["structuredContent"] == {"answers": [{"answer": "Rome", "score": 0.8, "context": "Rome is the capital of Italy.", "document": "Italy"}]}


def test_the_body_limit_and_the_api_key_apply(client):
    assert call(client, b'{"jsonrpc": "2.0", "id": 1, "method": "ping", "params": {"pad": "' + b"x" * 5000 + b'"}}').status_code == 413
    locked = TestClient(create_api(lambda: Served(FakeBackend(), BodyLimits(4096, 4096), Access(api_key="k3y-0f-at-least-16-chars"))))
    assert call(locked, {"jsonrpc": "2.0", "id": 1, "method": "ping"}).status_code == 401
    assert call(locked, {"jsonrpc": "2.0", "id": 1, "method": "ping"}, **{"X-API-Key": "k3y-0f-at-least-16-chars"}).json()["result"] == {}
