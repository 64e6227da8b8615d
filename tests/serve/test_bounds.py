"""What fuzzing found reaching a 500 is a JSON 400 from the live service, and the replica keeps answering."""
import json

import pytest
import requests

pytestmark = pytest.mark.serve

ITALY = "What is the capital of Italy?"


@pytest.mark.parametrize("path, body, mentions", [
    ("/", "\u0083".encode(), "no letters or digits"),
    ("/query", json.dumps({"query": "\u0083"}).encode(), "no letters or digits"),
    ("/query", b'{"query": "x", "params": ' + b"[" * 1000 + b"]" * 1000 + b"}", "nests 1001 levels deep"),
    ("/query", json.dumps({"query": ITALY, "params": {"Retriever": {"index": "../../etc"}}}).encode(), "cannot be set by a request"),
    ("/query", json.dumps({"query": ITALY, "params": {"Retriever": {"top_k": 100000}}}).encode(), "must be at most 200"),
])
def test_costly_or_unsafe_requests_get_a_json_400(qa_url, path, body, mentions):
    response = requests.post(qa_url + path, data=body, timeout=60)
    assert response.status_code == 400 and mentions in " ".join(response.json()["errors"])
    assert requests.post(qa_url, data=ITALY, timeout=60).status_code == 200
