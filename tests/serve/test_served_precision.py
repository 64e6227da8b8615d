"""Reader precision served: READER_PRECISION=int8 quantizes the replica's reader; /health says so.

The serve configs' `auto` (int8 on CPU) is checked live by test_serve_config.py; per-node reporting by test_per_node.py.
"""

import requests

from helpers import wait_until_ready
import pytest

pytestmark = pytest.mark.serve

QUESTION = "What is the capital of Italy?"


def assert_answers(url):
    response = requests.post(f"{url}/query", json={"query": QUESTION}, timeout=60)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["answers"] and body["answers"][0]["answer"]
    assert body["answers"][0]["context"] in " ".join(document["content"] for document in body["documents"])


def test_reader_precision_variable_quantizes_the_served_reader(serve_url, qa_model, monkeypatch):
    from ray import serve

    from capitals_qa.serving.builders import build_single_app
    from capitals_qa.settings import ServiceSettings

    from capitals_qa.testing.models import local_model_overrides

    for name, value in local_model_overrides(qa_model).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("READER_PRECISION", "int8")  # wins over the argument, as every setting's variable does
    app = build_single_app(ServiceSettings(reader_precision="fp32"), {"ray_actor_options": {"num_cpus": 1}})
    serve.run(app, name="int8", route_prefix="/int8")
    url = f"{serve_url}/int8"
    try:
        wait_until_ready(url)
        assert requests.get(f"{url}/health", timeout=10).json()["reader_precision"] == {"Reader": "int8"}
        assert_answers(url)
    finally:
        serve.delete("int8")
