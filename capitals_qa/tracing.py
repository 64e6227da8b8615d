"""One question traced end to end with OpenTelemetry: the ingress's handling, a model replica's (or each node
deployment's), the wait there for a worker, and each Haystack node.

Configured by OpenTelemetry's standard variables, which every process of the service reads where Ray started it:
off unless OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set; then spans go by OTLP over HTTP
to that endpoint, named by OTEL_SERVICE_NAME (default "capitals-qa") and sampled by OTEL_TRACES_SAMPLER. A client's
W3C `traceparent` header continues its trace. A span crosses from the ingress to a replica as a W3C carrier (a small
dict passed with the call), since Ray does not carry OpenTelemetry's context. Off, every call here is OpenTelemetry's
no-op. Imports nothing heavy: the ingress loads it.
"""
import os
import time
from contextlib import contextmanager
from typing import Dict, Iterator, Mapping, Optional

from opentelemetry import propagate, trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
REQUEST_ID = "capitals_qa.request_id"
OUTCOME = "capitals_qa.outcome"
CACHE = "capitals_qa.cache"

Carrier = Dict[str, str]
_configured = {"done": False}


def enabled() -> bool:
    return any(os.environ.get(name) for name in ENDPOINT_VARIABLES)


def configure() -> None:
    """In each process that records spans (the ingress, the model replicas), once: the OTLP/HTTP exporter."""
    if _configured["done"] or not enabled():
        return
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    # The SDK reads OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, OTEL_TRACES_SAMPLER, the exporter's endpoint and
    # headers, and the batch processor's delays itself. Attributes given to Resource.create would win over the
    # variables, so the default name is merged only where neither variable named the service.
    resource = Resource.create()
    if str(resource.attributes.get("service.name", "")).startswith("unknown_service"):
        resource = resource.merge(Resource({"service.name": "capitals-qa"}))
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    _configured["done"] = True


def tracer() -> trace.Tracer:
    return trace.get_tracer("capitals_qa")


@contextmanager
def span(name: str, given: Optional[Mapping[str, str]] = None, kind: SpanKind = SpanKind.INTERNAL, errors_marked: bool = True,
         **attributes) -> Iterator[Span]:
    """A span, current in this block: a child of the current span, or continuing the trace that `given` names (a
    carrier, or a request's headers with `traceparent`). An exception leaving the block marks it as an error unless
    `errors_marked` is False (the caller tells a client's mistake from the service's)."""
    parent = propagate.extract(given) if given is not None else None
    with tracer().start_as_current_span(name, context=parent, kind=kind, attributes=attributes,
                                        record_exception=errors_marked, set_status_on_exception=errors_marked) as current:
        yield current


def carrier() -> Optional[Carrier]:
    """The current span, for another process to continue; None where tracing is off."""
    if not enabled():
        return None
    found: Carrier = {}
    propagate.inject(found)
    return found


def refused(current: Span, reason: str) -> None:
    """A question the service did not answer (overloaded, a store down, a time limit, a failure): an error of the trace."""
    current.set_status(Status(StatusCode.ERROR, reason))


def span_ended_now(name: str, seconds: float, **attributes) -> None:
    """A child of the current span for something that took `seconds` and just ended (a node's run, which the
    pipeline times: pipeline/internals.time_nodes; a wait in a queue)."""
    ended = time.time_ns()
    tracer().start_span(name, start_time=ended - int(seconds * 1e9), attributes=attributes).end(end_time=ended)
