"""Tracing in one process, with OpenTelemetry's SDK keeping spans in memory: the question's span a route opens,
and how a replica's worker threads continue it. The span tree across processes: tests/serve/test_tracing.py."""
import asyncio
import secrets

import pytest
from fastapi.testclient import TestClient
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from capitals_qa import tracing
from capitals_qa.api.app import create_api
from capitals_qa.api.backend import BodyLimits, Served
from capitals_qa.api.errors import Overloaded
from capitals_qa.serving.replica.workers import TorchWorkers
from fake_backend import FakeBackend

pytestmark = pytest.mark.unit

EXPORTED = InMemorySpanExporter()


@pytest.fixture(scope="module", autouse=True)
def provider():
    # The process's provider can be set once; nothing else in the unit tests sets one.
    sdk = TracerProvider()
    sdk.add_span_processor(SimpleSpanProcessor(EXPORTED))
    trace.set_tracer_provider(sdk)
    assert trace.get_tracer_provider() is sdk


@pytest.fixture(autouse=True)
def exported():
    EXPORTED.clear()
    yield EXPORTED


def client_for(backend) -> TestClient:
    return TestClient(create_api(lambda: Served(backend, BodyLimits(400, 400))), raise_server_exceptions=False)


def client_trace():
    trace_id, span_id = secrets.token_hex(16), secrets.token_hex(8)
    return {"traceparent": f"00-{trace_id}-{span_id}-01", "X-Request-Id": "rid-7"}, int(trace_id, 16), int(span_id, 16)


def test_a_question_continues_the_clients_trace_with_its_request_id_and_outcome(exported):
    headers, trace_id, span_id = client_trace()
    assert client_for(FakeBackend()).post("/query", json={"query": "What is the capital of Italy?"}, headers=headers).status_code == 200
    (span,) = exported.get_finished_spans()
    assert span.name == "POST /query" and span.kind == SpanKind.SERVER
    assert span.context.trace_id == trace_id and span.parent.span_id == span_id
    assert span.attributes["capitals_qa.request_id"] == "rid-7" and span.attributes["capitals_qa.outcome"] == "1 answers"
    assert span.status.status_code == StatusCode.UNSET


def test_a_refused_question_is_an_error_of_the_trace(exported):
    headers, _, _ = client_trace()
    refused = client_for(FakeBackend(error=Overloaded("overloaded: 16 questions are waiting already", 3))).post("/", content=b"Who?",
                                                                                                                   headers=headers)
    assert refused.status_code == 503
    (span,) = exported.get_finished_spans()
    assert span.status.status_code == StatusCode.ERROR and span.attributes["capitals_qa.outcome"] == "overloaded"


def test_a_parameter_the_pipeline_cannot_use_is_the_clients_mistake_not_an_error(exported):
    backend = FakeBackend(error=ValueError("unknown operator $nearby"))
    rejected = client_for(backend).post("/query", json={"query": "Italy?", "params": {"Retriever": {"top_k": 2}}})
    assert rejected.status_code == 400
    (span,) = exported.get_finished_spans()
    assert span.status.status_code == StatusCode.UNSET and span.attributes["capitals_qa.outcome"].startswith("rejected")


def test_work_on_a_replicas_worker_threads_is_traced_under_the_span_that_asked_for_it(exported):
    workers = TorchWorkers(1)

    def work():
        tracing.span_ended_now("Reader", 0.01)

    async def ask():
        with tracing.span("replica Pipeline") as replica:
            await workers.run(work)
            return replica

    replica = asyncio.run(ask())
    spans = {span.name: span for span in exported.get_finished_spans()}
    assert set(spans) == {"replica Pipeline", "queue wait", "Reader"}
    for name in ("queue wait", "Reader"):
        assert spans[name].parent.span_id == replica.get_span_context().span_id


def test_tracing_is_off_unless_an_endpoint_is_set(monkeypatch):
    for name in tracing.ENDPOINT_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    assert tracing.carrier() is None  # nothing travels to the replicas
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
    with tracing.span("POST /"):
        assert tracing.carrier()["traceparent"].startswith("00-")
