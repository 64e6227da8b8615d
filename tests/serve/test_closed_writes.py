"""Writes are not open to whoever reaches the port: `serve run` of serve_config.yaml listening on 0.0.0.0 (asked here
over loopback), as three applications: without an API key, with OPEN_WRITES, with a key."""
import copy
import time

import pytest
import requests
import yaml

from helpers import serve_run, wait_until_ready, without_service_settings, write_serve_config

pytestmark = pytest.mark.serve

KEY = "writes-key-0123456789abcdef"
UPLOAD = {"files": [("files", ("zorbland.txt", b"Zorbtown is the capital of Zorbland."))]}


@pytest.fixture(scope="module")
def exposed(qa_model, tmp_path_factory):
    folder = tmp_path_factory.mktemp("exposed")
    path, port = write_serve_config(folder, qa_model, documents="data/countries.jsonl")
    config = yaml.safe_load(path.read_text())
    config["http_options"]["host"] = "0.0.0.0"  # as serve_config.yaml ships
    (app,) = config["applications"]
    apps = []
    for name, args in (("closed", {}), ("opened", {"open_writes": True}), ("keyed", {"api_key": KEY})):
        one = copy.deepcopy(app)
        one.update(name=name, route_prefix=f"/{name}")
        one["args"].update(args, write_log=str(folder / f"{name}-writes.sqlite"), feedback_db=str(folder / f"{name}-feedback.sqlite"))
        for deployment in one["deployments"]:
            deployment["ray_actor_options"]["num_cpus"] = 0.3  # six replicas of three applications on two cores
        apps.append(one)
    config["applications"] = apps
    path.write_text(yaml.safe_dump(config))
    url = f"http://127.0.0.1:{port}"
    with serve_run(path, without_service_settings(), folder / "serve-run.log"):
        for name in ("closed", "opened", "keyed"):
            wait_until_ready(f"{url}/{name}", timeout_s=300)
        yield url, folder / "serve-run.log"


def test_without_a_key_writes_are_refused_and_questions_answered(exposed):
    url, _ = exposed
    upload = requests.post(f"{url}/closed/file-upload", files=UPLOAD["files"], timeout=60)
    delete = requests.post(f"{url}/closed/documents/delete_by_filters", json={"filters": {}}, timeout=60)
    for refused in (upload, delete):
        assert refused.status_code == 403 and "OPEN_WRITES=true" in refused.json()["errors"][0], refused.text
    assert requests.post(f"{url}/closed", data="What is the capital of Italy?", timeout=60).status_code == 200
    assert requests.get(f"{url}/closed/health", timeout=30).json()["document_count"] == 248  # nothing was deleted


def test_open_writes_or_the_key_let_writes_in(exposed):
    url, _ = exposed
    assert requests.post(f"{url}/opened/file-upload", files=UPLOAD["files"], timeout=60).status_code == 200
    key = {"X-API-Key": KEY}
    assert requests.post(f"{url}/keyed/file-upload", files=UPLOAD["files"], timeout=60).status_code == 401
    assert requests.post(f"{url}/keyed/file-upload", files=UPLOAD["files"], headers=key, timeout=60).status_code == 200
    deleted = requests.post(f"{url}/keyed/documents/delete_by_filters", json={"filters": {"name": ["zorbland.txt"]}}, headers=key, timeout=60)
    assert deleted.status_code == 200 and deleted.json() is True and deleted.headers["x-documents-deleted"] == "1"


def test_a_delete_of_every_document_says_how_many_and_is_logged_with_its_request_id(exposed):
    url, log = exposed
    before = requests.get(f"{url}/opened/health", timeout=30).json()["document_count"]
    everything = requests.post(f"{url}/opened/documents/delete_by_filters", json={"filters": {}}, headers={"X-Request-Id": "delete-all-1"},
                               timeout=60)
    assert everything.status_code == 200 and everything.headers["x-documents-deleted"] == str(before)
    # `serve run` streams its replicas' logs to its output.
    deadline = time.monotonic() + 30
    while "request_id=delete-all-1 deleted every document of the store (" not in log.read_text(errors="replace"):
        assert time.monotonic() < deadline, "no log line for the delete of every document"
        time.sleep(0.5)
