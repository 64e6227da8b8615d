"""Helpers for the tests: where the shared corpus is, and waiting for a live service."""
import socket
import time

import requests

from capitals_qa.settings import PROJECT_DIR

SHARED_CORPUS = PROJECT_DIR.parent / "shared" / "data" / "countries-and-capitals"


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


def deploy_config(applications: list, timeout_s: float = 240) -> None:
    """Deploy serve config `applications` as `serve run` does and wait until each runs.

    Serve's own blocking deploy gives up after 60 s, which a few deployments loading models and a 20k-passage
    store overrun on a busy 2-core machine; a failed deployment still stops the wait at once, with Serve's reason.
    """
    from ray import serve
    from ray.serve.schema import ServeDeploySchema

    serve.context._get_global_client().deploy_apps(ServeDeploySchema.parse_obj({"applications": applications}))
    names = {app["name"] for app in applications}
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        statuses = {name: serve.status().applications.get(name) for name in names}
        failed = {name: s.message for name, s in statuses.items() if s is not None and s.status == "DEPLOY_FAILED"}
        if failed:
            raise RuntimeError(f"deploy failed: {failed}")
        if all(s is not None and s.status == "RUNNING" for s in statuses.values()):
            return
        time.sleep(1)
    raise TimeoutError(f"{sorted(names)} not running within {timeout_s} s")


# Three short passages and a question on each: enough for a reader to answer, cheap to load many times.
SMALL_DOCUMENTS = [
    {"content": "Rome is the capital of Italy. The city stands on the Tiber.", "meta": {"name": "Italy"}},
    {"content": "Paris is the capital of France. The Seine flows through it.", "meta": {"name": "France"}},
    {"content": "Lima is the capital of Peru, on the Pacific coast.", "meta": {"name": "Peru"}},
]
SMALL_QUESTIONS = ["What is the capital of Italy?", "Which river flows through Paris?", "Where is Lima?"]
