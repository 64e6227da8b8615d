"""`serve run` as a user runs it, in a Ray of its own: a pipeline that cannot load stops at once, non-zero,
its last line saying what to do; while the service starts, a client gets nothing it could mistake for an
answer; with API_KEY set, every route but the health checks needs the key."""
import gzip
import json
import os
import subprocess
import time

import pytest
import requests

from capitals_qa.serving.defaults import RAY_ENV
from capitals_qa.settings import DEFAULT_DOCUMENTS, PROJECT_DIR
from capitals_qa.testing.models import dense_model
from helpers import SERVE, free_port, serve_run, write_serve_config

pytestmark = pytest.mark.serve

API_KEY = "test-key-0123456789abcdef"
QUESTION = "What is the capital of Italy?"
# Ray's proxy answers its own 404 from the moment it listens until the application's route is deployed: with a
# config file, while Serve's controller imports the application and runs its builder. Our middleware in the proxy
# makes it a JSON 503 `starting`. Measured here (2 shared cores): see docs/operations.md, "Readiness".
PROXY_STARTING_BOUND_S = 30


def test_serve_run_with_a_model_it_cannot_load_exits_non_zero_within_60_s_naming_the_model():
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "READER_PARAMS_MODEL_NAME_OR_PATH": "nobody/no-such-model",
           "DENSERETRIEVER_PARAMS_EMBEDDING_MODEL": dense_model()}
    started = time.monotonic()
    # --address: a Ray that is not there, so that a run the check failed to stop cannot deploy onto another
    # cluster of this machine; it fails instead.
    run = subprocess.run([str(SERVE), "run", "--address", f"127.0.0.1:{free_port()}", "capitals:haystack_deployment"],
                         cwd=PROJECT_DIR, env=env, capture_output=True, text=True, timeout=90)
    took = time.monotonic() - started
    last_line = (run.stdout + run.stderr).strip().splitlines()[-1]
    assert run.returncode != 0 and took < 60, (run.returncode, took)
    assert "Reader: model 'nobody/no-such-model' is not on disk or in the Hugging Face cache" in last_line
    assert "READER_PARAMS_MODEL_NAME_OR_PATH=/path/to/model" in last_line


def answer_kind(response: requests.Response) -> str:
    """What a client got, in the words the start-up test checks: ray-404 (Ray's plain text), proxy-starting-503
    (the proxy's JSON while no application is deployed), starting-503 (the ingress's while its model replicas
    start), 200, or what else it was."""
    if response.status_code == 404 and response.text.startswith("Path '/' not found"):
        return "ray-404"
    if response.status_code == 503 and response.headers.get("content-type") == "application/json":
        message = response.json()["errors"][0]
        if message.startswith("starting: ") and int(response.headers["retry-after"]) >= 1:
            return "proxy-starting-503" if message.startswith("starting: no application answers here yet") else "starting-503"
    if response.status_code == 200:
        return "200"
    return f"{response.status_code} {response.headers.get('content-type')} {response.text[:200]!r}"


@pytest.fixture(scope="module")
def starting_service(qa_model, tmp_path_factory):
    """`API_KEY=... serve run --address local <config>`: serve_config.yaml on a free port, with the local model;
    polled with questions from the moment `serve run` is launched until one is answered.

    The Pipeline replica indexes three copies of the 20k bundled passages at its start (no snapshot), about
    ten seconds more than the ingress takes, as a replica of a real model takes longer to start than the
    ingress: the stretch where the ingress runs and the pipeline not yet. With the passages once, or from a
    snapshot, both may be running before the first question gets through.
    """
    folder = tmp_path_factory.mktemp("serve-run")
    documents = folder / "passages-x3.jsonl.gz"
    with gzip.open(DEFAULT_DOCUMENTS, "rt") as passages, gzip.open(documents, "wt") as copies:
        records = [json.loads(line) for line in passages]
        for copy in range(3):
            for record in records:
                copies.write(json.dumps({**record, "id": f"{record['id']}-{copy}"}) + "\n")
    config, port = write_serve_config(folder, qa_model, store_cache="", documents=str(documents))
    # As docs/operations.md tells a user of a config file: RAY_ENV exported (our middleware in Serve's proxy, ...).
    env = {**os.environ, **RAY_ENV, "API_KEY": API_KEY, "WRITE_LOG": str(folder / "writes.sqlite"), "FEEDBACK_DB": str(folder / "feedback.sqlite")}
    url = f"http://127.0.0.1:{port}"
    with serve_run(config, env, folder / "serve-run.log") as process:
        launched = time.monotonic()
        answers = []  # (seconds since launch when sent, when answered, kind)
        deadline = launched + 300
        while time.monotonic() < deadline and process.poll() is None:
            sent = time.monotonic() - launched
            try:
                response = requests.post(url, data=QUESTION, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=120)
                kind = answer_kind(response)
            except requests.ConnectionError:
                kind = "refused"
            answers.append((sent, time.monotonic() - launched, kind))
            if kind == "200":
                break
            time.sleep(0.2)
        assert answers and answers[-1][2] == "200", f"not answered: {answers[-5:]}\n{(folder / 'serve-run.log').read_text()[-3000:]}"
        yield url, answers


def phases(answers):
    """[(kind, first sent, last answered, count)] for each run of equal kinds, in order."""
    runs = []
    for sent, answered, kind in answers:
        if runs and runs[-1][0] == kind:
            runs[-1] = (kind, runs[-1][1], answered, runs[-1][3] + 1)
        else:
            runs.append((kind, sent, answered, 1))
    return runs


def test_while_it_starts_a_client_gets_refused_then_json_503s_starting_then_answers(starting_service):
    _, answers = starting_service
    runs = phases(answers)
    print("\nstart-up, seconds since `serve run` was launched:", [(kind, round(first, 1), round(last, 1), n) for kind, first, last, n in runs])
    kinds = [kind for kind, *_ in runs]
    # Each kind in one stretch, in this order; a stretch may be missing (a poll takes time, the machine is busy).
    # Never Ray's plain-text 404: the proxy's middleware answers it as a JSON 503 `starting`.
    order = ["refused", "proxy-starting-503", "starting-503", "200"]
    assert all(kind in order for kind in kinds), runs
    assert kinds == sorted(kinds, key=order.index) and len(set(kinds)) == len(kinds), runs
    assert "proxy-starting-503" in kinds, runs  # seconds long: the builder runs in Serve's controller meanwhile
    assert "starting-503" in kinds, runs  # the ingress ran before the pipeline, and said so instead of holding the question
    for kind, first, last, _ in runs:
        if kind == "proxy-starting-503":
            assert last - first < PROXY_STARTING_BOUND_S, runs
    # The longest a question was held: at the proxy, while the ingress replica itself started.
    print("longest wait for an answer: %.1f s" % max(answered - sent for sent, answered, _ in answers))


def test_api_key_is_needed_on_every_route_but_the_health_checks(starting_service):
    url, _ = starting_service
    for headers in ({}, {"Authorization": "Bearer wrong-key-0123456789"}, {"X-API-Key": "wrong-key-0123456789"}):
        refused = requests.post(url, data=QUESTION, headers=headers, timeout=60)
        assert refused.status_code == 401 and refused.headers["content-type"] == "application/json", refused.text
        assert "API key" in refused.json()["errors"][0] and refused.headers["www-authenticate"].startswith("Bearer")
    assert requests.post(f"{url}/query", json={"query": QUESTION}, timeout=60).status_code == 401
    for headers in ({"Authorization": f"Bearer {API_KEY}"}, {"X-API-Key": API_KEY}):
        answered = requests.post(url, data=QUESTION, headers=headers, timeout=60)
        assert answered.status_code == 200 and answered.text, answered.text
    assert requests.get(f"{url}/health", timeout=30).status_code == 200
    assert requests.get(f"{url}/initialized", timeout=30).json() is True
