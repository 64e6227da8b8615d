"""Our metrics reach Ray's metrics export port, where Prometheus scrapes them, and move as questions are asked."""
import pytest
import requests

from scraped_metrics import samples, scrape, wait_for

pytestmark = pytest.mark.serve


def test_questions_by_outcome_node_latency_documents_and_answers_are_exported(qa_url, metrics_url):
    before = samples(scrape(metrics_url), "ray_capitals_qa_questions_total")
    for _ in range(3):
        assert requests.post(qa_url, data="What is the capital of Italy?", timeout=60).status_code == 200
    assert requests.post(f"{qa_url}/query", json={"query": "x", "params": {"Retriever": {"top_k": 100000}}}, timeout=60).status_code == 400

    def moved(found):
        answered = found.get('outcome="answered"', 0) + found.get('outcome="no_answer"', 0)
        old = before.get('outcome="answered"', 0) + before.get('outcome="no_answer"', 0)
        return answered >= old + 3 and found.get('outcome="client_error"', 0) >= before.get('outcome="client_error"', 0) + 1

    questions = wait_for(metrics_url, "ray_capitals_qa_questions_total", moved)
    assert moved(questions), questions
    text = scrape(metrics_url)
    nodes = samples(text, "ray_capitals_qa_node_latency_seconds_count")
    assert nodes.get('node="Retriever"', 0) >= 3 and nodes.get('node="Reader"', 0) >= 3, nodes
    assert sum(samples(text, "ray_capitals_qa_documents_retrieved_total").values()) >= 3
    assert sum(samples(text, "ray_capitals_qa_answers_returned_total").values()) >= 3
    assert "# HELP ray_capitals_qa_questions_total Questions by how they ended" in text
