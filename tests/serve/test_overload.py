"""Overload and time limits over real HTTP: JSON 503 with Retry-After at once, JSON 504, abandoned questions not run.

Each application has one replica with one worker thread, and small limits set through the real settings. A
question is made slow honestly: the Reader reads 100 retrieved documents instead of 5 (seconds on the test model).
"""
import json
import re
import socket
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlparse

import pytest
import requests
import yaml

from capitals_qa.settings import PROJECT_DIR
from capitals_qa.testing.models import local_model_overrides
from helpers import wait_until_ready
from ray_helpers import deploy_applications, replica_logs

pytestmark = pytest.mark.serve

# 100 BM25 passages, all kept by the join: the Reader reads them all.
SLOW = {"query": "What is the capital of Italy?", "params": {"Retriever": {"top_k": 100}, "JoinResults": {"top_k_join": 100}}}


def deploy(serve_url, name, **settings):
    from ray import serve

    from capitals_qa.serving.builders import build_single_app
    from capitals_qa.settings import ServiceSettings

    # The queue limits act in the Pipeline replica, which runs the questions; each reaches it (no answer cache: the
    # slow question is asked more than once).
    app = build_single_app(ServiceSettings(answer_cache_max_entries=0, **settings), {"num_replicas": 1, "ray_actor_options": {"num_cpus": 1}})
    serve.run(app, name=name, route_prefix=f"/{name}")
    url = f"{serve_url}/{name}"
    wait_until_ready(url)
    return url


@pytest.fixture(scope="module")
def small_queue_url(serve_url, qa_url):
    """One question waits at most: the next is refused. (qa_url: the local model is chosen for every app.)"""
    from ray import serve

    yield deploy(serve_url, "small-queue", max_waiting_questions=1, max_queue_wait_s=60)
    serve.delete("small-queue")


@pytest.fixture(scope="module")
def small_queue_per_node_url(serve_url, qa_model):
    """The same limits in per-node mode, from its serve config; questions wait in the Reader's one worker."""
    from ray import serve

    app = yaml.safe_load((PROJECT_DIR / "serve_config.per_node.yaml").read_text())["applications"][0]
    app.update(name="small-queue-per-node", route_prefix="/small-queue-per-node")
    app["args"].update(max_waiting_questions=1, max_queue_wait_s=60, reader_precision="fp32", answer_cache_max_entries=0)
    app["runtime_env"]["env_vars"].update(**local_model_overrides(qa_model), HF_HUB_OFFLINE="1")
    reader = next(d for d in app["deployments"] if d["name"] == "Reader")
    reader["ray_actor_options"]["num_cpus"] = 1
    deploy_applications([app])
    url = f"{serve_url}/small-queue-per-node"
    wait_until_ready(url)
    yield url
    serve.delete("small-queue-per-node")


@pytest.fixture(scope="module")
def short_limit_url(serve_url, qa_url):
    from ray import serve

    yield deploy(serve_url, "short-limit", question_timeout_s=0.5)
    serve.delete("short-limit")


def queue(url):
    """Where questions wait: the Pipeline replica's queue, or in per-node mode the Reader's."""
    health = requests.get(f"{url}/health", timeout=10).json()
    return health["queue"] or health["node_status"]["Reader"]["queue"]


def wait_idle(url, timeout_s=60):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        state = queue(url)
        if state["running"] == 0 and state["waiting"] == 0:
            return state
        time.sleep(0.2)
    pytest.fail(f"{url} still busy after {timeout_s} s: {state}")


def wait_for(condition, timeout_s=30, what=""):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    pytest.fail(f"not within {timeout_s} s: {what}")


@pytest.mark.parametrize("app", ["small_queue_url", "small_queue_per_node_url"], ids=["single", "per_node"])
def test_beyond_the_queue_limit_a_question_gets_a_json_503_with_retry_after_at_once(app, request, serve_logs):
    small_queue_url = request.getfixturevalue(app)
    first_id, again_id = f"refused-{uuid.uuid4().hex}", f"again-{uuid.uuid4().hex}"
    with ThreadPoolExecutor(2) as pool:
        running = pool.submit(requests.post, f"{small_queue_url}/query", json=SLOW, timeout=120)
        wait_for(lambda: queue(small_queue_url)["running"] == 1)
        waiting = pool.submit(requests.post, f"{small_queue_url}/query", json=SLOW, timeout=120)
        wait_for(lambda: queue(small_queue_url)["waiting"] == 1)
        refused = requests.post(small_queue_url, data="What is the capital of Peru?", headers={"X-Request-Id": first_id}, timeout=60)
        assert refused.status_code == 503
        assert refused.headers["content-type"] == "application/json"
        message = refused.json()["errors"][0]
        assert message.startswith("overloaded: 1 questions are waiting already") and "ray::" not in message, message
        assert int(refused.headers["retry-after"]) >= 1
        # The proxy's own overhead included, on a busy machine; the question would have waited two slow questions.
        assert refused.elapsed.total_seconds() < 3.0, refused.elapsed
        if app != "small_queue_per_node_url":
            refused_by_replica = queue(small_queue_url)["refused"]
            again = requests.post(small_queue_url, data="What is the capital of Chile?", headers={"X-Request-Id": again_id}, timeout=60)
            assert again.status_code == 503 and again.json()["errors"] == [message]
            assert 1 <= int(again.headers["retry-after"]) <= int(refused.headers["retry-after"])
            wait_for(lambda: ingress_logged(serve_logs, first_id), what="the first refusal in the ingress's log")
            wait_for(lambda: ingress_logged(serve_logs, again_id), what="the second refusal in the ingress's log")
            # Each refusal is the replica's own (docs/operations.md, "Overload").
            assert queue(small_queue_url)["refused"] == refused_by_replica + 1
        assert running.result().status_code == 200 and waiting.result().status_code == 200
    assert requests.post(small_queue_url, data="What is the capital of Peru?", timeout=60).status_code == 200


def ingress_logged(serve_logs, request_id):
    return any(f"question request_id={request_id} " in log.read_text(errors="replace") for log in replica_logs(serve_logs))


def test_a_disconnected_clients_waiting_question_is_never_run(small_queue_url, serve_logs):
    before = wait_idle(small_queue_url)
    request_id = f"gone-{uuid.uuid4().hex}"
    where = urlparse(small_queue_url)
    body = json.dumps(SLOW).encode()
    with ThreadPoolExecutor(1) as pool:
        running = pool.submit(requests.post, f"{small_queue_url}/query", json=SLOW, timeout=120)
        wait_for(lambda: queue(small_queue_url)["running"] == 1, what="the first question runs")
        # A client that sends its question, and hangs up once it is known to be waiting in the replica.
        with socket.create_connection((where.hostname, where.port)) as client:
            head = (f"POST {where.path}/query HTTP/1.1\r\nHost: {where.netloc}\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(body)}\r\nX-Request-Id: {request_id}\r\n\r\n")
            client.sendall(head.encode() + body)
            wait_for(lambda: queue(small_queue_url)["waiting"] == 1, what="the second question waits")
        wait_for(lambda: queue(small_queue_url)["left_queue"] == before["left_queue"] + 1, what="the question left the queue")
        assert running.result().status_code == 200
    after = wait_idle(small_queue_url)
    assert after["started"] == before["started"] + 1  # only the first question ran
    cancelled = re.compile(rf"question request_id={request_id} latency_ms=\S+ outcome=cancelled")
    wait_for(lambda: any(cancelled.search(log.read_text(errors="replace")) for log in replica_logs(serve_logs)), what="log line")


def test_a_question_past_the_time_limit_gets_a_json_504_before_the_proxy_timeout(short_limit_url):
    started = time.monotonic()
    response = requests.post(f"{short_limit_url}/query", json=SLOW, timeout=60)
    assert response.status_code == 504, response.text
    assert response.headers["content-type"] == "application/json"
    assert "longer than the limit of 0.5 s" in response.json()["errors"][0]
    assert time.monotonic() - started < 10  # the proxy's request timeout here is Serve's default (none); ours came first
    wait_idle(short_limit_url)  # the abandoned run finished; the replica serves on
    assert requests.get(f"{short_limit_url}/health", timeout=10).status_code == 200
