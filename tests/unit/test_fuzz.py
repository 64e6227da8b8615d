"""Fuzzing the HTTP API over a real pipeline run in-process: whatever a client sends, never a 5xx.

Schemathesis generates requests from /openapi.json (bodies, types and shapes the schema allows, and ones it
does not); hypothesis sends raw bytes. Both run deterministically (derandomize), so a failure reproduces.
The pipeline is pipeline.yml's, with a store that honours `filters` (so filters reach Haystack's filter code)
and the small local reader on one torch thread, over three one-line documents: each question that reaches the
pipeline still costs about 30 ms, so the counts below keep the whole file near 30 s on a busy 2-core machine.
"""
import json
from typing import Any, Dict

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings, strategies as st

from capitals_qa.testing.schema_fuzz import fuzzed_app, run_schemathesis, served_over_http

pytestmark = pytest.mark.slow


def fuzz(examples: int) -> settings:
    return settings(max_examples=examples, derandomize=True, deadline=None, database=None,
                    suppress_health_check=list(HealthCheck), print_blob=True)


@pytest.fixture(scope="module")
def app(qa_model, tmp_path_factory):
    import torch

    # One torch thread: on a busy machine, thousands of small model calls on many threads mostly wait on each other.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield fuzzed_app(qa_model, tmp_path_factory.mktemp("fuzz"))
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def client(app):
    return TestClient(app, raise_server_exceptions=False)


@pytest.fixture(scope="module")
def schema(app):
    return schemathesis.openapi.from_asgi("/openapi.json", app)


@pytest.mark.parametrize("method, path, examples", [
    ("POST", "/", 300), ("POST", "/query", 600), ("GET", "/health", 50), ("GET", "/initialized", 25), ("GET", "/hs_version", 25),
])
def test_requests_from_the_openapi_schema_never_get_a_5xx(schema, client, method, path, examples):
    statuses = []

    @fuzz(examples)
    @given(case=schema[path][method].as_strategy())
    def ask(case):
        response = client.request(method, path, **_transport_kwargs(case))
        statuses.append(response.status_code)
        assert response.status_code < 500, f"{method} {path} {case.body!r} -> {response.status_code} {response.text}"

    ask()
    # hypothesis ran the cases, not just a few (a route without parameters has fewer distinct requests to make)
    assert len(statuses) >= min(examples / 2, 1)


def _transport_kwargs(case) -> Dict[str, Any]:
    # What schemathesis would send, sent through the test's own client (keeps one app and one event loop).
    headers = dict(case.headers or {})
    if case.body is None or case.media_type is None:
        return {"headers": headers, "params": case.query}
    headers["content-type"] = case.media_type
    body = case.body
    if case.media_type == "application/json":
        content = json.dumps(body).encode()
    elif isinstance(body, bytes):
        content = body
    else:
        content = str(body).encode("utf-8", "surrogatepass")
    return {"headers": headers, "params": case.query, "content": content}


@pytest.mark.parametrize("path, examples", [("/", 300), ("/query", 600)])
def test_raw_bytes_never_get_a_5xx(client, path, examples):
    # Text-like bytes (control characters, any script, JSON punctuation) as well as arbitrary ones.
    texts = st.text(alphabet=st.characters(codec="utf-8"), max_size=60).map(lambda text: text.encode("utf-8", "surrogatepass"))
    jsons = st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
        max_leaves=10,
    ).map(lambda value: json.dumps({"query": "Capital of Albania?", "params": value}).encode())

    @fuzz(examples)
    @given(body=st.binary(max_size=200) | texts | jsons)
    def ask(body):
        response = client.post(path, content=body)
        assert response.status_code < 500, f"{path} {body!r} -> {response.status_code} {response.text}"
        assert response.status_code == 200 or response.json()["errors"]

    ask()


@pytest.mark.parametrize("body", [
    "\u0083".encode(),
    json.dumps({"query": "x", "params": {"Retriever": {"index": "../../etc"}}}).encode(),
    json.dumps({"query": "x", "params": {"Retriever": {"top_k": 100000}}}).encode(),
    b'{"query": "x", "params": ' + b"[" * 1000 + b"]" * 1000 + b"}",
])
def test_what_fuzzing_found_before_is_a_400(client, body):
    path = "/" if not body.startswith(b"{") else "/query"
    response = client.post(path, content=body)
    assert response.status_code == 400 and response.json()["errors"]


FEEDBACK = {"query": "q", "document": {"content": "c"}, "is_correct_answer": True, "is_correct_document": True}


@pytest.mark.parametrize("method, path, request_args, status", [
    ("POST", "/documents/delete_by_filters", {"json": []}, 422),  # pydantic 1 read [] as {}: every document
    ("POST", "/documents/delete_by_filters", {"json": {"filters": []}}, 422),
    ("POST", "/documents/get_by_filters", {"json": [["name", "Italy"]]}, 422),
    ("POST", "/eval-feedback", {"json": {"filters": {"no-such-field": 1}}}, 400),  # Haystack's store: KeyError
    ("POST", "/feedback", {"json": {**FEEDBACK, "answer": {"answer": "a", "score": "1"}}}, 422),
    ("POST", "/file-upload", {"files": [("files", ("a.txt", b"Rome."))], "data": {"valid_languages": "en"}}, 400),  # NameError
])
def test_what_schemathesis_found_before_is_a_4xx_naming_the_field(client, method, path, request_args, status):
    response = client.request(method, path, **request_args)
    assert response.status_code == status and response.json()["errors"], response.text
    assert len(client.post("/documents/get_by_filters", json={"filters": {}}).json()) == 3  # nothing deleted


def test_schemathesis_every_phase_on_every_route_finds_no_5xx_and_keeps_to_the_schema(app):
    # Last in this file: its stateful phase uploads and deletes documents. Bounded to about a minute here;
    # bench/fuzz_bench.py runs the long version.
    with served_over_http(app) as url:
        run = run_schemathesis(url, max_examples=8, timeout_s=600)
    assert run.passed, run.output[-8000:]
