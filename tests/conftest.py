"""Shared fixtures: a small local QA model, and a real Ray Serve instance serving the default pipeline."""
import os
import socket
import time
from pathlib import Path

import pytest
import requests

# Nothing may be fetched from a model hub: fail fast instead of hanging on the network.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_ready(url: str, timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{url}/health", timeout=5).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"{url}/health did not answer 200 within {timeout_s} s")


@pytest.fixture(scope="session")
def qa_model(tmp_path_factory) -> Path:
    from capitals_qa.local_models import build_qa_model

    return build_qa_model(tmp_path_factory.mktemp("models") / "tiny-qa")


@pytest.fixture(scope="session")
def serve_url():
    """Ray Serve started in this process, with its HTTP proxy on a port of its own."""
    import ray
    from ray import serve

    port = free_port()
    # Logical CPUs: several test applications live side by side; each replica asks for one.
    ray.init(num_cpus=8, include_dashboard=False, log_to_driver=False)
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

    from capitals_qa.deployment import HaystackQA
    from capitals_qa.settings import ServiceSettings

    os.environ["READER_PARAMS_MODEL_NAME_OR_PATH"] = str(qa_model)
    app = HaystackQA.options(ray_actor_options={"num_cpus": 1}).bind(ServiceSettings.from_env())
    serve.run(app, name="qa", route_prefix="/")
    wait_until_ready(serve_url)
    yield serve_url
    serve.delete("qa")


@pytest.fixture(scope="session")
def direct_pipeline(qa_url):
    """The same YAML, overrides and documents as the served app, run in this process without Serve."""
    import torch

    from capitals_qa.pipelines import load_pipeline
    from capitals_qa.settings import ServiceSettings

    torch.set_num_threads(1)  # as many as the replica has, so float sums are added up in the same order
    return load_pipeline(ServiceSettings.from_env())
