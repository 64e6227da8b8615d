"""deploy/kuberay/rayservice.yaml: a RayService that KubeRay v1.7.0 accepts, serving serve_config.yaml's applications."""
import copy
import importlib.util
from functools import lru_cache
from importlib.metadata import version

import jsonschema
import pytest
import yaml

from capitals_qa.settings import PROJECT_DIR

pytestmark = pytest.mark.unit

KUBERAY = PROJECT_DIR / "deploy" / "kuberay"
SYNC = "python deploy/kuberay/sync_serve_config.py"


@lru_cache(maxsize=None)
def manifest() -> dict:
    return yaml.safe_load((KUBERAY / "rayservice.yaml").read_text())


def serve_config() -> dict:
    return yaml.safe_load((PROJECT_DIR / "serve_config.yaml").read_text())


@lru_cache(maxsize=None)
def rayservice_schema() -> dict:
    """The CRD's v1 schema, strict: a field the schema does not name is an error, as with `kubectl apply
    --validate=strict` (the API server would otherwise drop it without a word)."""
    crd = yaml.safe_load((KUBERAY / "crd" / "ray.io_rayservices.yaml").read_text())
    (v1,) = [version for version in crd["spec"]["versions"] if version["name"] == "v1"]
    schema = copy.deepcopy(v1["schema"]["openAPIV3Schema"])
    forbid_unknown_fields(schema)
    return schema


def forbid_unknown_fields(schema) -> None:
    if isinstance(schema, dict):
        if "properties" in schema and "additionalProperties" not in schema and not schema.get("x-kubernetes-preserve-unknown-fields"):
            schema["additionalProperties"] = False
        for value in schema.values():
            forbid_unknown_fields(value)
    elif isinstance(schema, list):
        for value in schema:
            forbid_unknown_fields(value)


def test_the_manifest_is_a_valid_rayservice_for_kuberay():
    assert (manifest()["apiVersion"], manifest()["kind"]) == ("ray.io/v1", "RayService")
    jsonschema.Draft7Validator(rayservice_schema()).validate(manifest())


def test_the_strict_schema_refuses_a_misspelt_field():
    broken = copy.deepcopy(manifest())
    broken["spec"]["rayClusterConfig"]["workerGroupSpecs"][0]["maxReplica"] = 4
    with pytest.raises(jsonschema.ValidationError, match="maxReplica"):
        jsonschema.Draft7Validator(rayservice_schema()).validate(broken)


def test_serve_config_v2_serves_serve_config_yaml():
    served = yaml.safe_load(manifest()["spec"]["serveConfigV2"])
    assert served["applications"] == serve_config()["applications"], f"serve_config.yaml changed: run `{SYNC}`"
    # Kubernetes' own: the Service reaches the proxies only on the pod's addresses; time limits as in the file.
    assert served["http_options"]["host"] == "0.0.0.0" and served["http_options"]["port"] == 8000
    assert served["http_options"]["request_timeout_s"] == serve_config()["http_options"]["request_timeout_s"]


def test_the_sync_script_copies_serve_config_applications():
    spec = importlib.util.spec_from_file_location("sync_serve_config", KUBERAY / "sync_serve_config.py")
    sync = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sync)
    changed = (PROJECT_DIR / "serve_config.yaml").read_text().replace("max_replicas: 5", "max_replicas: 7")
    synced = yaml.safe_load(yaml.safe_load(sync.synced((KUBERAY / "rayservice.yaml").read_text(), changed))["spec"]["serveConfigV2"])
    assert synced["applications"] == yaml.safe_load(changed)["applications"]
    assert synced["http_options"]["host"] == "0.0.0.0"


def test_the_pods_have_room_for_the_pipeline_replicas():
    cluster = manifest()["spec"]["rayClusterConfig"]
    (pipeline,) = [d for d in serve_config()["applications"][0]["deployments"] if d["name"] == "Pipeline"]
    replica_cpus = pipeline["ray_actor_options"]["num_cpus"]
    (workers,) = cluster["workerGroupSpecs"]
    (container,) = workers["template"]["spec"]["containers"]
    per_pod = int(container["resources"]["limits"]["cpu"]) // replica_cpus
    assert cluster["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0"  # no replica on the head
    # The initial replicas on two pods at least, and max_replicas fits in maxReplicas pods.
    assert workers["minReplicas"] >= 2 and per_pod >= 1
    assert per_pod * workers["maxReplicas"] >= pipeline["autoscaling_config"]["max_replicas"]
    assert cluster["rayVersion"] == version("ray")  # the image's Ray, whose health checks KubeRay picks


def test_the_cluster_asks_for_rays_token_from_a_secret_created_outside_the_repository():
    auth = manifest()["spec"]["rayClusterConfig"]["authOptions"]
    assert auth == {"mode": "token", "secretName": "capitals-qa-ray-auth"}
    cluster = manifest()["spec"]["rayClusterConfig"]
    groups = [cluster["headGroupSpec"], *cluster["workerGroupSpecs"]]
    variables = [variable for group in groups for container in group["template"]["spec"]["containers"] for variable in container.get("env", [])]
    assert not [variable for variable in variables if variable["name"].startswith("RAY_AUTH")]  # KubeRay sets them from the Secret
    assert "kubectl create secret generic capitals-qa-ray-auth" in (KUBERAY / "rayservice.yaml").read_text()
