"""serve_config.yaml: valid for Ray Serve, naming the real app, and serving answers when deployed."""
import copy

import pytest
import requests
import yaml
from ray.serve.schema import ServeDeploySchema

from capitals_qa.serving.ingress.deployment import HaystackQA
from capitals_qa.serving.replica.pipeline_replica import PipelineReplica
from capitals_qa.settings import PROJECT_DIR, ServiceSettings
from capitals_qa.testing.models import local_model_overrides
from helpers import wait_until_ready
from ray_helpers import deploy_applications

pytestmark = pytest.mark.serve


@pytest.fixture(scope="module")
def config() -> dict:
    return yaml.safe_load((PROJECT_DIR / "serve_config.yaml").read_text())


def test_config_is_valid_for_ray_serve_and_names_the_real_app(config):
    schema = ServeDeploySchema.parse_obj(config)
    (app,) = schema.applications
    assert app.import_path == "capitals:app"
    ServiceSettings.parse_obj(app.args)  # the builder accepts the arguments
    ingress, deployment = app.deployments
    assert ingress.name == HaystackQA.name == "HaystackQA" and ingress.ray_actor_options.num_cpus == 0
    assert deployment.name == PipelineReplica.name == "Pipeline"
    autoscaling = deployment.autoscaling_config
    # One replica of 2 cores: what fits one 2-core machine, so no replica is asked for that can never be placed.
    assert (autoscaling["min_replicas"], autoscaling["initial_replicas"], autoscaling["max_replicas"]) == (1, 1, 1)
    assert autoscaling["downscale_delay_s"] == 30 and autoscaling["target_ongoing_requests"] > 0
    # Overload is refused by the Pipeline replicas' queues (JSON): Serve's proxy never queues for the ingress.
    assert deployment.max_ongoing_requests >= 16 and ingress.max_queued_requests == -1 and ingress.max_ongoing_requests >= 1000
    assert deployment.ray_actor_options.num_cpus == 2
    assert app.args["reader_precision"] == "auto"
    # Stopped replicas finish their questions for as long as a client would wait for them.
    for stopped in (ingress, deployment):
        assert stopped.graceful_shutdown_timeout_s == config["http_options"]["request_timeout_s"]
    assert schema.http_options.port == 8000 and schema.http_options.request_timeout_s > 0


def test_config_deploys_and_each_replica_indexes_text_files_at_start(config, serve_url, qa_model, tmp_path):
    from ray import serve

    corpus = tmp_path / "txt"
    corpus.mkdir()
    (corpus / "Italy.txt").write_text("Rome is the capital of Italy. " + "Italy has many old towns. " * 60)
    (corpus / "Peru.txt").write_text("Lima is the capital of Peru.")
    app_config = copy.deepcopy(config["applications"][0])
    # Beside the session's default app: its own name and path, these documents, the local model.
    app_config.update(name="from-config", route_prefix="/from-config")
    app_config["args"]["documents"] = str(corpus)
    app_config["runtime_env"]["env_vars"].update(**local_model_overrides(qa_model), HF_HUB_OFFLINE="1")
    # Two replicas (the test cluster has 8 logical CPUs), to see that each indexes the documents at its start.
    (pipeline,) = [d for d in app_config["deployments"] if d["name"] == "Pipeline"]
    pipeline["autoscaling_config"].update(min_replicas=2, initial_replicas=2, max_replicas=2)
    # The same call `serve run serve_config.yaml` makes once Serve is up.
    deploy_applications([app_config])
    url = f"{serve_url}/from-config"
    try:
        wait_until_ready(url)
        status = serve.status().applications["from-config"].deployments["Pipeline"]
        assert status.replica_states.get("RUNNING") == 2
        # 306 words -> passages at 0 and 180; Peru -> one. Every replica reports the same count.
        counts = {requests.get(f"{url}/health", timeout=10).json()["document_count"] for _ in range(6)}
        assert counts == {3}
        # The config's `auto`: int8 on these CPU replicas.
        assert requests.get(f"{url}/health", timeout=10).json()["reader_precision"] == {"Reader": "int8"}
        answer = requests.post(url, data="What is the capital of Peru?", timeout=60)
        assert answer.status_code == 200
        documents = requests.post(f"{url}/query", json={"query": "What is the capital of Peru?"}, timeout=60).json()["documents"]
        assert documents[0]["meta"]["name"] == "Peru.txt"
        assert answer.text in " ".join(d["content"] for d in documents)
    finally:
        serve.delete("from-config")
