"""A Ray cluster of three nodes on this machine, serving serve_config.yaml's application, for the fault tests.

As Ray's own fault-tolerance tests do (ray.cluster_utils.Cluster): a head node and two worker nodes, each a
raylet of its own with logical CPUs, so that a node can die while the others go on. The head holds no CPUs,
as in deploy/kuberay/rayservice.yaml: the Pipeline replicas run on the workers.
"""
import copy
import os
import signal
import time
import uuid
from typing import Dict, Optional, Set

import psutil
import pytest
import yaml

from capitals_qa.serving.defaults import RAY_ENV
from capitals_qa.settings import PROJECT_DIR
from helpers import free_port, wait_until_ready

# Unique per run: replica processes are found by their title, which names the application, and other Ray
# clusters may run on this machine.
APP = f"faults-{uuid.uuid4().hex[:8]}"
PER_NODE_APP = f"{APP}-per-node"
# Room for both Pipeline replicas on either worker, so the replicas of a lost worker fit on the other.
WORKER_CPUS = 2


@pytest.fixture(scope="module")
def cluster():
    import ray
    from ray import serve
    from ray.cluster_utils import Cluster

    if ray.is_initialized():
        pytest.skip("another test started Ray in this process: run tests/faults before tests/serve, or alone")
    # Serve's controller and proxies as the Dockerfile's `ray start` has them on every node: our middleware, ...
    os.environ.update(RAY_ENV)
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False})
    ray.init(address=cluster.address, log_to_driver=False)
    for _ in range(2):
        cluster.add_node(num_cpus=WORKER_CPUS)
    cluster.wait_for_nodes()
    # HeadOnly: every node of this cluster shares the machine's ports, so only one proxy can bind the port.
    serve.start(proxy_location="HeadOnly", http_options={"host": "127.0.0.1", "port": free_port()})
    yield cluster
    serve.shutdown()
    ray.shutdown()
    cluster.shutdown()


def config_app(config_file: str, name: str, route_prefix: str, ingress: str, model, qa_model) -> dict:
    """A serve config's application, with the local model, the ingress on the head and the model deployment on
    one CPU per replica, at a fixed count (set by deploy) instead of autoscaling, so "restored" means one thing.

    The ingress goes on the head node with the proxy the clients connect to: a question whose connection runs
    through a dead node is lost whatever the application does (see README, "Nothing lost when a replica or node
    dies").
    """
    config = yaml.safe_load((PROJECT_DIR / config_file).read_text())
    app = copy.deepcopy(config["applications"][0])
    app.update(name=name, route_prefix=route_prefix)
    app["runtime_env"]["env_vars"].update(READER_PARAMS_MODEL_NAME_OR_PATH=str(qa_model), HF_HUB_OFFLINE="1")
    # The bundled 248 countries rather than the 20k Wikipedia passages: a new replica is ready in seconds, and
    # what is measured is how replicas die and come back, not the corpus.
    app["args"]["documents"] = "data/countries.jsonl"
    deployment(app, ingress)["ray_actor_options"]["resources"] = {"node:__internal_head__": 0.001}
    model_deployment = deployment(app, model)
    model_deployment.pop("autoscaling_config", None)
    model_deployment["ray_actor_options"]["num_cpus"] = 1
    return app


@pytest.fixture(scope="module")
def app_config(qa_model) -> dict:
    """serve_config.yaml's application: HaystackQA -> Pipeline."""
    return config_app("serve_config.yaml", APP, "/", "HaystackQA", "Pipeline", qa_model)


@pytest.fixture(scope="module")
def per_node_app_config(qa_model) -> dict:
    """serve_config.per_node.yaml's application: PerNodeIngress -> Retriever -> Reader."""
    return config_app("serve_config.per_node.yaml", PER_NODE_APP, "/per-node", "PerNodeIngress", "Reader", qa_model)


def deployment(app: dict, name: str) -> dict:
    return next(d for d in app["deployments"] if d["name"] == name)


@pytest.fixture
def deploy(cluster, app_config):
    """deploy(replicas) -> the URL, once `replicas` Pipeline replicas run; the same config again changes nothing."""
    return lambda replicas: deploy_app(app_config, "Pipeline", replicas)


def deploy_app(app_config: dict, model: str, replicas: int) -> str:
    from ray import serve
    from ray.serve.schema import ServeDeploySchema

    app = copy.deepcopy(app_config)
    deployment(app, model)["num_replicas"] = replicas
    serve.context._get_global_client().deploy_apps(ServeDeploySchema.parse_obj({"applications": [app]}))
    url = proxy_url() + app["route_prefix"].rstrip("/")
    wait_until_ready(url)
    name = app["name"]
    wait_for(
        lambda: running_replicas(name, model) == replicas and len(replica_pids(name, model)) == replicas,
        180,
        f"{replicas} {model} replicas",
    )
    return url


def proxy_url() -> str:
    from ray import serve

    port = serve.context._get_global_client().http_config.port
    return f"http://127.0.0.1:{port}"


def running_replicas(app: str = APP, name: str = "Pipeline") -> int:
    """The deployment's replicas RUNNING, 0 while any other is starting, stopping or being restarted."""
    from ray import serve

    status = serve.status().applications.get(app)
    if status is None or name not in status.deployments:  # the application is still being deployed
        return 0
    states: Dict[str, int] = status.deployments[name].replica_states
    return states.get("RUNNING", 0) if set(states) <= {"RUNNING"} else 0


def titled_pids(title: str) -> Set[int]:
    """The processes whose title (the command line Ray gives an actor's process) holds `title`."""
    return {process.info["pid"] for process in psutil.process_iter(["pid", "cmdline"])
            if any(title in part for part in process.info["cmdline"] or [])}


def replica_pids(app: str = APP, name: str = "Pipeline") -> Set[int]:
    """The processes of the deployment's replicas."""
    return titled_pids(f"ServeReplica:{app}:{name}")


def proxy_pids() -> Set[int]:
    """The processes of Serve's HTTP proxies."""
    return titled_pids("ray::ProxyActor")


def kill_holding_questions(app: str, name: str, timeout_s: float = 30) -> int:
    """SIGKILL a replica of the deployment at a moment Serve counts questions on it; returns its pid.

    A tiny model answers in milliseconds, so a replica picked by CPU use may hold none at the kill, and the
    retry would not be tested. Serve's count (the replica's get_num_ongoing_requests, which runs beside user
    code) is read until one holds two: killed a moment later, it still holds one unless both ended in between.
    """
    import ray
    from ray._private.state import actors  # the GCS's actor table, with pids; ray.util.state needs the dashboard

    replicas = {actor["Pid"]: ray.get_actor(actor["Name"], namespace="serve") for actor in actors().values()
                if actor["State"] == "ALIVE" and actor["Name"].startswith(f"SERVE_REPLICA::{app}#{name}#")}
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for pid, replica in replicas.items():
            if ray.get(replica.get_num_ongoing_requests.remote()) >= 2:
                os.kill(pid, signal.SIGKILL)
                return pid
    raise TimeoutError(f"no {name} replica of {app} held two questions within {timeout_s} s")


def node_of(pid: int, cluster) -> Optional[object]:
    """The cluster node whose raylet started this process (a worker process is its raylet's child); None for a
    process that has gone, or that outlived its raylet for a moment (then it has another parent)."""
    try:
        ancestors = {parent.pid for parent in psutil.Process(pid).parents()}
    except psutil.NoSuchProcess:
        return None
    for node in [cluster.head_node, *cluster.worker_nodes]:
        if raylet_pid(node) in ancestors:
            return node
    return None


def raylet_pid(node) -> int:
    from ray._private import ray_constants

    return node.all_processes[ray_constants.PROCESS_TYPE_RAYLET][0].process.pid


def wait_for(condition, timeout_s: float, what: str) -> float:
    """Seconds until condition() holds; fails the test after timeout_s."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if condition():
            return time.monotonic() - started
        time.sleep(0.25)
    pytest.fail(f"not within {timeout_s} s: {what}")


def ingress_log_text(cluster, app: str = APP, ingress: str = "HaystackQA") -> str:
    """Everything the application's ingress replicas logged (they live on the head node)."""
    logs = os.path.join(cluster.head_node.get_session_dir_path(), "logs", "serve")
    text = ""
    for name in os.listdir(logs):
        if name.startswith(f"replica_{app}_{ingress}_"):
            with open(os.path.join(logs, name), errors="replace") as log:
                text += log.read()
    return text
