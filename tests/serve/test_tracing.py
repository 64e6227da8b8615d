"""One question traced end to end: `serve run` of both serving modes with OTEL_EXPORTER_OTLP_ENDPOINT set in the
applications' runtime_env (as docs/operations.md says), exporting to a real OTLP/HTTP receiver in this process."""
import copy
import secrets

import pytest
import requests
import yaml

from capitals_qa.testing.otlp_receiver import OtlpReceiver, by_name
from helpers import PROJECT_DIR, serve_run, wait_until_ready, without_service_settings, write_serve_config

pytestmark = pytest.mark.serve

SERVER = 2  # opentelemetry.proto.trace.v1.Span.SPAN_KIND_SERVER
REQUEST_ID = "capitals_qa.request_id"


@pytest.fixture(scope="module")
def receiver():
    found = OtlpReceiver()
    yield found
    found.close()


@pytest.fixture(scope="module")
def traced(qa_model, receiver, tmp_path_factory):
    """Two applications, `/single` (the Pipeline deployment) and `/pernode` (a deployment per node)."""
    folder = tmp_path_factory.mktemp("traced")
    path, port = write_serve_config(folder, qa_model, documents="data/countries.jsonl")
    config = yaml.safe_load(path.read_text())
    (single,) = config["applications"]
    (per_node,) = yaml.safe_load((PROJECT_DIR / "serve_config.per_node.yaml").read_text())["applications"]
    per_node = copy.deepcopy(per_node)
    per_node["runtime_env"] = copy.deepcopy(single["runtime_env"])
    per_node["args"].update(documents="data/countries.jsonl")
    apps = []
    for name, app in (("single", single), ("pernode", per_node)):
        app.update(name=name, route_prefix=f"/{name}")
        app["args"].update(write_log=str(folder / f"{name}-writes.sqlite"), feedback_db=str(folder / f"{name}-feedback.sqlite"))
        app["runtime_env"]["env_vars"].update(OTEL_EXPORTER_OTLP_ENDPOINT=receiver.url, OTEL_SERVICE_NAME="capitals-qa-test",
                                              OTEL_BSP_SCHEDULE_DELAY="100")
        for deployment in app["deployments"]:
            deployment["ray_actor_options"]["num_cpus"] = min(deployment["ray_actor_options"].get("num_cpus", 0), 0.5)
        apps.append(app)
    config["applications"] = apps
    path.write_text(yaml.safe_dump(config))
    url = f"http://127.0.0.1:{port}"
    with serve_run(path, without_service_settings(), folder / "serve-run.log"):
        for name in ("single", "pernode"):
            wait_until_ready(f"{url}/{name}", timeout_s=300)
        yield url


def ask(url: str, question: str, request_id: str, params=None):
    """A question sent as part of a client's own trace; returns the answer and the client's trace and span ids."""
    trace_id, span_id = secrets.token_hex(16), secrets.token_hex(8)
    headers = {"traceparent": f"00-{trace_id}-{span_id}-01", "X-Request-Id": request_id}
    answered = requests.post(f"{url}/query", json={"query": question, "params": params or {}}, headers=headers, timeout=120)
    return answered, trace_id, span_id


def tree_of(receiver, trace_id, client_span, names):
    """The trace once the ingress's root span and the named spans have all arrived: each process exports its own
    batches, and the ingress ends its span last, so its batch can come after the replicas'."""
    def complete(spans):
        return names <= {span.name for span in spans} and any(root_of(spans, client_span))

    spans = receiver.wait_for(trace_id, complete)
    assert complete(spans), sorted((span.name, span.kind, span.parent_id) for span in spans)
    return spans


def root_of(spans, client_span):
    return [span for span in spans if span.kind == SERVER and span.parent_id == client_span]


def test_a_question_in_single_mode_is_one_trace_from_the_client_to_each_node(traced, receiver):
    answered, trace_id, client_span = ask(f"{traced}/single", "What is the capital of Italy?", "trace-single-1")
    assert answered.status_code == 200, answered.text
    spans = tree_of(receiver, trace_id, client_span, {"replica Pipeline", "queue wait", "Retriever", "DenseRetriever", "JoinResults", "Reader"})
    (root,) = root_of(spans, client_span)
    assert root.attributes[REQUEST_ID] == "trace-single-1" and root.attributes["capitals_qa.outcome"].endswith("answers")
    assert not root.error and root.service == "capitals-qa-test"
    replica = by_name(spans, "replica Pipeline")
    assert replica.parent_id == root.span_id
    for name in ("queue wait", "Retriever", "DenseRetriever", "JoinResults", "Reader"):
        assert by_name(spans, name).parent_id == replica.span_id, name
    # The nodes ran one after the other, within the replica's span.
    assert replica.start_ns <= by_name(spans, "Retriever").start_ns <= by_name(spans, "JoinResults").start_ns <= by_name(spans, "Reader").start_ns <= replica.end_ns


def test_a_question_in_per_node_mode_has_a_span_per_node_deployment(traced, receiver):
    answered, trace_id, client_span = ask(f"{traced}/pernode", "What is the capital of France?", "trace-pernode-1")
    assert answered.status_code == 200, answered.text
    nodes = ("Retriever", "DenseRetriever", "JoinResults", "Reader")
    spans = tree_of(receiver, trace_id, client_span, {*nodes, *(f"replica {node}" for node in nodes)})
    (root,) = root_of(spans, client_span)
    assert root.attributes[REQUEST_ID] == "trace-pernode-1"
    for node in nodes:
        deployment = by_name(spans, f"replica {node}")
        assert deployment.parent_id == root.span_id
        assert by_name(spans, node).parent_id == deployment.span_id


def test_a_cached_answer_is_a_trace_that_never_reaches_a_replica(traced, receiver):
    question = "What is the capital of Spain?"
    ask(f"{traced}/single", question, "trace-cache-miss")
    answered, trace_id, client_span = ask(f"{traced}/single", question, "trace-cache-hit")
    assert answered.headers["x-cache"] == "hit"
    spans = receiver.wait_for(trace_id, lambda spans: bool(spans))
    assert [span.attributes.get("capitals_qa.cache") for span in spans] == ["hit"]


def test_a_rejected_question_is_marked_as_the_clients_not_the_services(traced, receiver):
    answered, trace_id, _ = ask(f"{traced}/single", "What is the capital of Italy?", "trace-bad-filter",
                                params={"filters": {"name": {"$nearby": "Rome"}}})
    assert answered.status_code == 400, answered.text
    spans = receiver.wait_for(trace_id, lambda spans: any(span.kind == SERVER and REQUEST_ID in span.attributes for span in spans))
    root = next(span for span in spans if REQUEST_ID in span.attributes)
    assert root.attributes["capitals_qa.outcome"].startswith("rejected") and not root.error
