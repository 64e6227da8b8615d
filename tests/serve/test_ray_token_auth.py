"""Ray's token authentication as docs/operations.md turns it on: a head node started by `ray start` with
RAY_AUTH_MODE=token, the application deployed with the token; without it, Ray's own clients are refused."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from capitals_qa.serving.defaults import RAY_ENV
from helpers import PROJECT_DIR, SERVE, free_port, wait_until_ready, write_serve_config

pytestmark = pytest.mark.serve

RAY = Path(sys.executable).parent / "ray"
TOKEN = "0123456789abcdef0123456789abcdef"  # as `ray get-auth-token --generate` makes one: 32 hex digits


def without_token(home: Path) -> dict:
    """A user's environment that knows nothing of the token (no variable, no ~/.ray/auth_token)."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("RAY_AUTH")}
    return {**env, "HOME": str(home)}


@pytest.fixture(scope="module")
def locked(qa_model, tmp_path_factory):
    folder = tmp_path_factory.mktemp("locked")
    config, serve_port = write_serve_config(folder, qa_model, documents="data/countries.jsonl", write_log=str(folder / "writes.sqlite"))
    dashboard = f"http://127.0.0.1:{free_port()}"
    with_token = {**without_token(folder), **RAY_ENV, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": TOKEN}
    head = subprocess.Popen(
        [str(RAY), "start", "--head", "--block", f"--port={free_port()}", "--dashboard-host=127.0.0.1",
         f"--dashboard-port={dashboard.rsplit(':', 1)[1]}", f"--ray-client-server-port={free_port()}", "--num-cpus=2",
         "--disable-usage-stats"],
        cwd=PROJECT_DIR, env=with_token, stdout=open(folder / "ray-start.log", "w"), stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while subprocess.run([str(SERVE), "deploy", "--address", dashboard, str(config)], cwd=PROJECT_DIR, env=with_token,
                             capture_output=True).returncode != 0:
            assert head.poll() is None and time.monotonic() < deadline, (folder / "ray-start.log").read_text()
            time.sleep(2)
        url = f"http://127.0.0.1:{serve_port}"
        wait_until_ready(url, timeout_s=300)
        yield url, dashboard, folder, with_token
    finally:
        os.killpg(head.pid, signal.SIGTERM)  # `ray start --block` and every process it started
        try:
            head.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
            head.wait()


def test_a_job_submission_without_the_token_is_refused(locked):
    _, dashboard, folder, _ = locked
    submitted = subprocess.run([str(RAY), "job", "submit", "--address", dashboard, "--", "echo", "pwned"],
                               env=without_token(folder), capture_output=True, text=True, timeout=120)
    assert submitted.returncode != 0 and "pwned" not in submitted.stdout
    assert "Authentication required" in submitted.stdout + submitted.stderr
    forged = requests.post(f"{dashboard}/api/jobs/", json={"entrypoint": "echo pwned"}, headers={"Authorization": "Bearer guess"}, timeout=30)
    assert forged.status_code == 403


def test_the_dashboards_api_asks_for_the_token(locked):
    _, dashboard, _, _ = locked
    assert requests.get(f"{dashboard}/api/serve/applications/", timeout=30).status_code == 401
    allowed = requests.get(f"{dashboard}/api/serve/applications/", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
    assert allowed.status_code == 200 and "capitals" in allowed.json()["applications"]


def test_ray_clients_with_the_token_work(locked):
    _, dashboard, _, with_token = locked
    listed = subprocess.run([str(RAY), "job", "list", "--address", dashboard], env=with_token, capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0, listed.stderr


def test_the_service_answers_questions_as_before(locked):
    url, _, _, _ = locked
    answered = requests.post(url, data="What is the capital of Italy?", timeout=120)
    assert answered.status_code == 200
    assert requests.get(f"{url}/health", timeout=30).json()["document_count"] == 248
