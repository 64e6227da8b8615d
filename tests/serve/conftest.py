"""Live fixtures: a real Ray Serve instance serving the default pipeline with the local model."""
import os
from pathlib import Path

import pytest

from capitals_qa.serving.defaults import RAY_ENV
from helpers import free_port, wait_until_ready


# This session's Ray folder: /tmp/ray/session_latest names the latest on the machine, maybe another process's.
RAY_SESSION = {}
METRICS_PORT = free_port()


@pytest.fixture(scope="session")
def metrics_url(serve_url):
    """Where Ray exports its metrics and ours, in Prometheus' text format (what Prometheus scrapes)."""
    return f"http://127.0.0.1:{METRICS_PORT}/metrics"


@pytest.fixture(scope="session")
def serve_logs(serve_url) -> Path:
    """The folder of this session's Serve logs (controller, proxy, replicas)."""
    return RAY_SESSION["dir"] / "logs" / "serve"


@pytest.fixture(scope="session")
def serve_url(tmp_path_factory):
    """Ray Serve started in this process, with its HTTP proxy on a port of its own."""
    import ray
    from ray import serve

    # The apps' write log and feedback labels in a folder of this session (Ray's processes inherit these).
    state = tmp_path_factory.mktemp("state")
    os.environ["WRITE_LOG"] = str(state / "writes.sqlite")
    os.environ["FEEDBACK_DB"] = str(state / "feedback.sqlite")
    # Serve's controller and proxies as `serve run capitals:...` starts them (capitals.py): our middleware, ...
    os.environ.update(RAY_ENV)
    port = free_port()
    # Logical CPUs: several test applications live side by side; each replica asks for one.
    # A cluster of its own, even where another Ray runs on this machine (ray.init would join that one).
    context = ray.init(address="local", num_cpus=8, include_dashboard=False, log_to_driver=False,
                       _metrics_export_port=METRICS_PORT)
    RAY_SESSION["dir"] = Path(context.address_info["session_dir"])
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    yield f"http://127.0.0.1:{port}"
    serve.shutdown()
    ray.shutdown()


@pytest.fixture(scope="session")
def qa_url(serve_url, qa_model):
    """The default application (pipeline.yml, bundled corpus) with the local model swapped in.

    The model is chosen with Haystack's READER_PARAMS_MODEL_NAME_OR_PATH, set after Ray started: only the
    service's own forwarding can bring it to the replica, which would otherwise try the hub and fail.
    """
    from ray import serve

    from capitals_qa.serving.builders import build_single_app
    from capitals_qa.settings import ServiceSettings

    os.environ["READER_PARAMS_MODEL_NAME_OR_PATH"] = str(qa_model)
    # One CPU for the Pipeline replica: its torch threads, and so its float sums, match direct_pipeline's.
    app = build_single_app(ServiceSettings(), {"ray_actor_options": {"num_cpus": 1}})
    serve.run(app, name="qa", route_prefix="/")
    wait_until_ready(serve_url)
    yield serve_url
    serve.delete("qa")


@pytest.fixture(scope="session")
def direct_pipeline(qa_url):
    """The same YAML, overrides and documents as the served app, run in this process without Serve."""
    import torch

    from capitals_qa.serving.backends import load_served_pipeline
    from capitals_qa.settings import ServiceSettings

    torch.set_num_threads(1)  # as many as the replica has, so float sums are added up in the same order
    return load_served_pipeline(ServiceSettings())
