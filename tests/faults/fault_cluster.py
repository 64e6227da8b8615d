"""The fault tests' cluster, seen from the test: the applications it serves, their replicas and processes, killing
one that holds questions, and waiting for Serve to bring it back. Ray's internals go through ray_helpers."""
import copy
import os
import signal
import time
import uuid
from typing import Dict, Optional, Set

import psutil
import pytest
import yaml

from capitals_qa.settings import PROJECT_DIR
from capitals_qa.testing.models import local_model_overrides
from helpers import wait_until_ready
from ray_helpers import (HEAD_NODE_RESOURCE, PROXY_PROCESS_TITLE, REPLICA_PROCESS_TITLE, ongoing_requests, proxy_port, raylet_pid,
                         replica_logs, replicas_by_pid, submit_applications)

# Unique per run: replica processes are found by their title, which names the application, and other Ray
# clusters may run on this machine.
APP = f"faults-{uuid.uuid4().hex[:8]}"
PER_NODE_APP = f"{APP}-per-node"
# Room for both Pipeline replicas on either worker, so the replicas of a lost worker fit on the other.
WORKER_CPUS = 2


def config_app(config_file: str, name: str, route_prefix: str, ingress: str, model, qa_model) -> dict:
    """A serve config's application, with the local model, the ingress on the head and the model deployment on
    one CPU per replica, at a fixed count (set by deploy) instead of autoscaling, so "restored" means one thing.

    The ingress goes on the head node with the proxy the clients connect to: a question whose connection runs
    through a dead node is lost whatever the application does (docs/operations.md, "Nothing lost when a replica or
    node dies").
    """
    config = yaml.safe_load((PROJECT_DIR / config_file).read_text())
    app = copy.deepcopy(config["applications"][0])
    app.update(name=name, route_prefix=route_prefix)
    app["runtime_env"]["env_vars"].update(**local_model_overrides(qa_model), HF_HUB_OFFLINE="1")
    # The bundled 248 countries rather than the 20k Wikipedia passages: a new replica is ready in seconds, and
    # what is measured is how replicas die and come back, not the corpus.
    app["args"]["documents"] = "data/countries.jsonl"
    # Every question reaches a model replica: what is measured is what happens to those a dying replica holds.
    app["args"]["answer_cache_max_entries"] = 0
    deployment(app, ingress)["ray_actor_options"]["resources"] = {HEAD_NODE_RESOURCE: 0.001}
    model_deployment = deployment(app, model)
    model_deployment.pop("autoscaling_config", None)
    model_deployment["ray_actor_options"]["num_cpus"] = 1
    return app


def deployment(app: dict, name: str) -> dict:
    return next(d for d in app["deployments"] if d["name"] == name)


def deploy_app(app_config: dict, model: str, replicas: int) -> str:
    app = copy.deepcopy(app_config)
    deployment(app, model)["num_replicas"] = replicas
    submit_applications([app])
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
    return f"http://127.0.0.1:{proxy_port()}"


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
    return titled_pids(REPLICA_PROCESS_TITLE.format(app=app, deployment=name))


def proxy_pids() -> Set[int]:
    """The processes of Serve's HTTP proxies."""
    return titled_pids(PROXY_PROCESS_TITLE)


def kill_holding_questions(app: str, name: str, timeout_s: float = 30) -> int:
    """SIGKILL a replica of the deployment at a moment Serve counts questions on it; returns its pid.

    A tiny model answers in milliseconds, so a replica picked by CPU use may hold none at the kill, and the
    retry would not be tested. Serve's count of the questions a replica holds is read until one holds two: killed
    a moment later, it still holds one unless both ended in between.
    """
    replicas = replicas_by_pid(app, name)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for pid, replica in replicas.items():
            if ongoing_requests(replica) >= 2:
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
    return "".join(log.read_text(errors="replace") for log in replica_logs(logs, app, ingress))
