"""What the API meters for each question, through the metrics interface the serving layer implements."""
from collections import Counter
from typing import List, Tuple

import pytest
from fastapi.testclient import TestClient
from haystack.schema import Answer

from capitals_qa.api.app import create_api
from capitals_qa.api.backend import BodyLimits, Served
from capitals_qa.api.errors import RequestError
from capitals_qa.api.metrics import QAMetrics
from fake_backend import FakeBackend

pytestmark = pytest.mark.unit


class RecordingMetrics(QAMetrics):
    def __init__(self):
        self.outcomes: Counter = Counter()
        self.documents: List[int] = []
        self.answers: List[int] = []
        self.nodes: List[Tuple[str, float]] = []

    def question(self, outcome):
        self.outcomes[outcome] += 1

    def retrieved(self, documents):
        self.documents.append(documents)

    def answered(self, answers):
        self.answers.append(answers)


def client_for(backend, metrics):
    return TestClient(create_api(lambda: Served(backend, BodyLimits(100, 400), metrics=metrics)), raise_server_exceptions=False)


def test_questions_are_counted_by_outcome_with_documents_and_answers():
    metrics = RecordingMetrics()
    client = client_for(FakeBackend(), metrics)
    assert client.post("/", content=b"Capital of Italy?").text == "Rome"
    assert client.post("/query", json={"query": "Capital of Italy?"}).status_code == 200
    assert client.post("/", content=b"").status_code == 400
    assert client.post("/query", json={"query": "x", "params": {"Reader": {"top_k": 500}}}).status_code == 400
    assert client.post("/", content=b"q" * 101).status_code == 413
    assert client.get("/health").status_code == 200  # not a question
    assert metrics.outcomes == {"answered": 2, "client_error": 3}
    assert metrics.documents == [1, 1] and metrics.answers == [1, 1]


def test_no_answer_and_failures_are_counted_apart():
    metrics = RecordingMetrics()
    no_answer = Answer(answer="", type="extractive", score=0.9)
    assert client_for(FakeBackend(answers=[no_answer]), metrics).post("/", content=b"Who?").text == ""
    assert client_for(FakeBackend(answers=[]), metrics).post("/", content=b"Who?").text == ""
    assert client_for(FakeBackend(error=RuntimeError("boom")), metrics).post("/", content=b"Who?").status_code == 500
    assert metrics.outcomes == {"no_answer": 2, "failed": 1}
    assert metrics.answers == [1, 0]


@pytest.mark.parametrize("status, outcome", [(503, "overloaded"), (504, "timed_out"), (400, "client_error")])
def test_request_errors_count_by_their_status(status, outcome):
    metrics = RecordingMetrics()
    response = client_for(FakeBackend(error=RequestError(status, "no")), metrics).post("/query", json={"query": "Who?"})
    assert response.status_code == status
    assert metrics.outcomes == {outcome: 1}


def test_the_grafana_dashboard_queries_the_metrics_we_export():
    import json
    import re

    from capitals_qa.settings import PROJECT_DIR

    dashboard = json.loads((PROJECT_DIR / "deploy" / "grafana" / "capitals_qa_dashboard.json").read_text())
    exprs = " ".join(target["expr"] for panel in dashboard["panels"] for target in panel["targets"])
    used = set(re.findall(r"ray_capitals_qa_\w+", exprs))
    exported = {"ray_capitals_qa_questions_total", "ray_capitals_qa_node_latency_seconds_bucket",
                "ray_capitals_qa_documents_retrieved_total", "ray_capitals_qa_answers_returned_total",
                "ray_capitals_qa_proxy_refusals_total"}
    assert used == exported


def test_a_cancelled_question_counts_as_timed_out():
    import asyncio

    from capitals_qa.api.metrics import question_outcome

    metrics = RecordingMetrics()
    with pytest.raises(asyncio.CancelledError):
        with question_outcome(metrics):
            raise asyncio.CancelledError()
    assert metrics.outcomes == {"timed_out": 1}
