"""One truth across replicas: a document uploaded or deleted through any replica is what every replica answers
from within 2 s, in both serving modes (real Ray Serve, two replicas of the deployment that holds the store)."""
import copy
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
import yaml

from capitals_qa.settings import PROJECT_DIR
from capitals_qa.testing.models import local_model_overrides
from helpers import wait_until_ready
from ray_helpers import submit_applications

pytestmark = pytest.mark.serve

# mode -> (serve config file, the deployment that holds the store)
MODES = {"single": ("serve_config.yaml", "Pipeline"), "per_node": ("serve_config.per_node.yaml", "Retriever")}
CONVERGED_WITHIN_S = 2.0


@pytest.fixture(scope="module", params=list(MODES))
def two_replicas(request, serve_url, qa_model, tmp_path_factory):
    from ray import serve

    mode = request.param
    config_file, store_deployment = MODES[mode]
    app = copy.deepcopy(yaml.safe_load((PROJECT_DIR / config_file).read_text())["applications"][0])
    name = f"shared-{mode.replace('_', '-')}"
    state = tmp_path_factory.mktemp(name)
    app.update(name=name, route_prefix=f"/{name}")
    app["args"]["documents"] = str(PROJECT_DIR / "data" / "countries.jsonl")  # 248 documents: replicas start quickly
    app["runtime_env"]["env_vars"].update(
        **local_model_overrides(qa_model), HF_HUB_OFFLINE="1",
        WRITE_LOG=str(state / "writes.sqlite"), FEEDBACK_DB=str(state / "feedback.sqlite"),
    )
    for deployment in app["deployments"]:
        deployment.pop("autoscaling_config", None)  # a fixed number: the autoscaler must not take one away
        deployment["num_replicas"] = 2 if deployment["name"] == store_deployment else 1
        deployment["ray_actor_options"]["num_cpus"] = min(1, deployment["ray_actor_options"]["num_cpus"])
    # Not blocking: Serve's own wait gives up after 60 s, and four replica processes may take longer on a busy machine.
    submit_applications([app])
    url = f"{serve_url}/{name}"
    wait_until_ready(url, timeout_s=300)
    yield mode, url
    serve.delete(name)


def replica_count(mode: str, url: str):
    """(the store replica that answered /health, its document count)."""
    health = requests.get(f"{url}/health", timeout=10).json()
    status = health if mode == "single" else health["node_status"]["Retriever"]
    return status["pid"], status["document_count"]


def until_every_replica_has(mode: str, url: str, count: int, replicas: int = 2) -> float:
    """Seconds until `replicas` different store replicas each reported `count` documents.

    Asked several at a time: Serve routes a request to the replica with fewer in flight, so overlapping requests
    reach every replica, where one at a time were seen (CI) to reach the same replica for 9 s.
    """
    started = time.monotonic()
    seen = set()
    with ThreadPoolExecutor(2 * replicas) as pool:
        while len(seen) < replicas:
            for pid, documents in pool.map(lambda _: replica_count(mode, url), range(2 * replicas)):
                if documents == count:
                    seen.add(pid)
            assert time.monotonic() - started < 60, f"replicas with {count} documents: {len(seen)} of {replicas}"
    return time.monotonic() - started


def names(url: str, filters) -> list:
    response = requests.post(f"{url}/documents/get_by_filters", json={"filters": filters}, timeout=30)
    assert response.status_code == 200, response.text
    return [doc["meta"]["name"] for doc in response.json()]


def test_an_upload_and_a_delete_through_one_replica_reach_every_replica_within_2_s(two_replicas):
    mode, url = two_replicas
    before = replica_count(mode, url)[1]
    until_every_replica_has(mode, url, before)

    text = f"Zorblax is the capital of Quuxland ({mode}). Its river is the Glimmer."
    upload = requests.post(f"{url}/file-upload", files=[("files", ("quuxland.txt", text.encode()))], timeout=60)
    assert upload.status_code == 200, upload.text
    assert upload.json() == {"files": [{"name": "quuxland.txt", "documents": 1}]}
    elapsed = until_every_replica_has(mode, url, before + 1)
    assert elapsed < CONVERGED_WITHIN_S, f"every replica had the upload after {elapsed:.2f} s"
    # Whichever replica answers now, the document is there, and the retriever finds it.
    for _ in range(8):
        assert names(url, {"name": ["quuxland.txt"]}) == ["quuxland.txt"]
        found = requests.post(f"{url}/query", json={"query": "Which city is the capital of Quuxland?"}, timeout=60).json()
        assert found["documents"][0]["meta"]["name"] == "quuxland.txt"

    deleted = requests.post(f"{url}/documents/delete_by_filters", json={"filters": {"name": ["quuxland.txt"]}}, timeout=60)
    assert deleted.status_code == 200 and deleted.json() is True
    elapsed = until_every_replica_has(mode, url, before)
    assert elapsed < CONVERGED_WITHIN_S, f"every replica had the delete after {elapsed:.2f} s"
    for _ in range(8):
        assert names(url, {"name": ["quuxland.txt"]}) == []


def test_feedback_through_any_replica_is_seen_by_all(two_replicas):
    mode, url = two_replicas
    label = {"query": "What is the capital of Italy?", "document": {"content": "Rome is the capital of Italy."},
             "is_correct_answer": True, "is_correct_document": True, "origin": "user-feedback", "id": f"live-{mode}"}
    assert requests.post(f"{url}/feedback", json=label, timeout=30).status_code == 200
    for _ in range(6):
        assert f"live-{mode}" in [l["id"] for l in requests.get(f"{url}/feedback", timeout=30).json()]


def test_an_answer_kept_before_an_upload_is_never_served_after_it(two_replicas):
    """The answer cache in the ingress (on by default) serves a repeated question only at the store's version it was
    computed at: after an upload, an answer from the cache always has it, and every answer has it once every
    replica applied it."""
    mode, url = two_replicas
    question = {"query": f"Which city is the capital of Blorvania ({mode})?", "params": {"Retriever": {"top_k": 3}}}
    ask = lambda: requests.post(f"{url}/query", json=question, timeout=60)  # noqa: E731
    names_in = lambda response: [doc["meta"]["name"] for doc in response.json()["documents"]]  # noqa: E731
    before = ask()
    assert before.headers["x-cache"] == "miss" and ask().headers["x-cache"] == "hit"
    assert "blorvania.txt" not in names_in(before)

    text = f"Glunk is the capital of Blorvania ({mode}). Blorvania trades in violet salt."
    assert requests.post(f"{url}/file-upload", files=[("files", ("blorvania.txt", text.encode()))], timeout=60).status_code == 200
    started, answers = time.monotonic(), []
    while time.monotonic() - started < CONVERGED_WITHIN_S + 3:
        with ThreadPoolExecutor(4) as pool:  # overlapping, so that both replicas answer
            answers += list(pool.map(lambda _: ask(), range(4)))
    for response in answers:
        if response.headers["x-cache"] == "hit":
            assert "blorvania.txt" in names_in(response)
    assert all("blorvania.txt" in names_in(response) for response in answers[-8:])
    assert any(response.headers["x-cache"] == "hit" for response in answers[-8:])
