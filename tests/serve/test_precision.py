"""Reader precision served: READER_PRECISION=int8 in single mode, the per-node config's `auto` on a CPU replica."""
import copy

import requests
import yaml
from ray.serve.schema import ServeDeploySchema

from capitals_qa.settings import PROJECT_DIR
from helpers import wait_until_ready

QUESTION = "What is the capital of Italy?"


def assert_answers(url):
    response = requests.post(f"{url}/query", json={"query": QUESTION}, timeout=60)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["answers"] and body["answers"][0]["answer"]
    assert body["answers"][0]["context"] in " ".join(document["content"] for document in body["documents"])


def test_reader_precision_variable_quantizes_the_served_reader(serve_url, qa_model, monkeypatch):
    from ray import serve

    from capitals_qa.serving.ingress import HaystackQA
    from capitals_qa.settings import ServiceSettings

    monkeypatch.setenv("READER_PARAMS_MODEL_NAME_OR_PATH", str(qa_model))
    monkeypatch.setenv("READER_PRECISION", "int8")  # wins over the argument, as every setting's variable does
    app = HaystackQA.options(ray_actor_options={"num_cpus": 1}).bind(ServiceSettings(reader_precision="fp32"))
    serve.run(app, name="int8", route_prefix="/int8")
    url = f"{serve_url}/int8"
    try:
        wait_until_ready(url)
        assert requests.get(f"{url}/health", timeout=10).json()["reader_precision"] == {"Reader": "int8"}
        assert_answers(url)
    finally:
        serve.delete("int8")


def test_per_node_config_runs_its_reader_in_int8_on_a_cpu_replica(serve_url, qa_model):
    from ray import serve

    config = yaml.safe_load((PROJECT_DIR / "serve_config.per_node.yaml").read_text())
    app = copy.deepcopy(config["applications"][0])
    assert app["args"]["reader_precision"] == "auto"
    app.update(name="per-node-auto", route_prefix="/per-node-auto")
    app["runtime_env"]["env_vars"].update(READER_PARAMS_MODEL_NAME_OR_PATH=str(qa_model), HF_HUB_OFFLINE="1")
    reader = next(d for d in app["deployments"] if d["name"] == "Reader")
    reader["ray_actor_options"]["num_cpus"] = 1
    url = f"{serve_url}/per-node-auto"
    try:
        # Not Serve's blocking deploy, which gives up after 60 s: three deployments start slower on a busy machine.
        serve.context._get_global_client().deploy_apps(ServeDeploySchema.parse_obj({"applications": [app]}))
        wait_until_ready(url)
        health = requests.get(f"{url}/health", timeout=10).json()
        assert health["reader_precision"] == {"Reader": "int8"}  # auto on a replica without GPU
        assert health["node_status"]["Reader"]["reader_precision"] == "int8"
        assert "reader_precision" not in health["node_status"]["Retriever"]
        assert_answers(url)
    finally:
        serve.delete("per-node-auto")
