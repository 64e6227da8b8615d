"""Extractive question answering: a Haystack 1.x YAML pipeline served by Ray Serve.

settings   ServiceSettings: what the service loads and the limits it enforces, from arguments and variables
tracing    OpenTelemetry: one trace per question, across the ingress and the model replicas (off by default)
api/       the HTTP API: FastAPI only (no Ray, no Haystack)
pipeline/  the pipeline: Haystack only (no Ray, no FastAPI)
serving/   Ray Serve: the deployments, by the process they run in
cli/       the capitals-index and capitals-compare commands
testing/   small QA models built locally, for tests and benchmarks
"""
import os

# A production service should not report usage to a third party unless its operator opts in.
os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")
