"""Live fixtures: a real Ray Serve instance serving the default pipeline with the local model.

Package-scoped: Ray runs while tests/serve runs and is shut down after it, so tests that start a Ray of their own
(tests/faults) run before or after, in any order.
"""
import os
from pathlib import Path

import pytest

from capitals_qa.serving.defaults import RAY_ENV
from helpers import free_port, wait_until_ready
from ray_helpers import start_local_ray

# This session's Ray folder: /tmp/ray/session_latest names the latest on the machine, maybe another process's.
RAY_SESSION = {}
METRICS_PORT = free_port()


@pytest.fixture(scope="package")
def metrics_url(serve_url):
    """Where Ray exports its metrics and ours, in Prometheus' text format (what Prometheus scrapes)."""
    return f"http://127.0.0.1:{METRICS_PORT}/metrics"


@pytest.fixture(scope="package")
def serve_logs(serve_url) -> Path:
    """The folder of this session's Serve logs (controller, proxy, replicas)."""
    return RAY_SESSION["dir"] / "logs" / "serve"


@pytest.fixture(scope="package")
def serve_url(tmp_path_factory):
    """Ray Serve started in this process, with its HTTP proxy on a port of its own."""
    import ray
    from ray import serve

    # The apps' write log and feedback labels in a folder of this session (Ray's processes inherit these), and
    # Serve's controller and proxies as `serve run capitals:...` starts them (capitals.py): our middleware, ...
    state = tmp_path_factory.mktemp("state")
    environment = {"WRITE_LOG": str(state / "writes.sqlite"), "FEEDBACK_DB": str(state / "feedback.sqlite"), **RAY_ENV}
    saved = {name: os.environ.get(name) for name in environment}
    os.environ.update(environment)
    port = free_port()
    # Logical CPUs: several test applications live side by side; each replica asks for one.
    RAY_SESSION["dir"] = start_local_ray(num_cpus=8, metrics_port=METRICS_PORT)
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    yield f"http://127.0.0.1:{port}"
    serve.shutdown()
    ray.shutdown()
    restore(saved)


@pytest.fixture(scope="package")
def qa_url(serve_url, qa_model):
    """The default application (pipeline.yml, bundled corpus) with the local models swapped in.

    The models are chosen with Haystack's READER_PARAMS_MODEL_NAME_OR_PATH and DENSERETRIEVER_PARAMS_EMBEDDING_MODEL,
    set after Ray started: only the service's own forwarding can bring them to the replica, which would otherwise try
    the hub and fail.
    """
    from ray import serve

    from capitals_qa.serving.builders import build_single_app
    from capitals_qa.settings import ServiceSettings
    from capitals_qa.testing.models import local_model_overrides

    overrides = local_model_overrides(qa_model)
    saved = {name: os.environ.get(name) for name in overrides}
    os.environ.update(overrides)
    # One CPU for the Pipeline replica: its torch threads, and so its float sums, match direct_pipeline's.
    app = build_single_app(ServiceSettings(), {"ray_actor_options": {"num_cpus": 1}})
    serve.run(app, name="qa", route_prefix="/")
    wait_until_ready(serve_url)
    yield serve_url
    serve.delete("qa")
    restore(saved)


@pytest.fixture(scope="package")
def direct_pipeline(qa_url):
    """The same YAML, overrides and documents as the served app, run in this process without Serve."""
    import torch

    from capitals_qa.pipeline.yaml_pipelines import load_served_pipelines
    from capitals_qa.settings import ServiceSettings

    torch.set_num_threads(1)  # as many as the replica has, so float sums are added up in the same order
    return load_served_pipelines(*ServiceSettings().pipeline_source)[1]


def restore(saved: dict) -> None:
    """Environment variables back as they were (unset where they were unset)."""
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
