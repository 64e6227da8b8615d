"""Every Ray behaviour the tests rely on that Ray does not document as stable, in one place.

Each is pinned to the Ray version in pyproject.toml by tests/unit/test_ray_internals.py, as the service's own
(capitals_qa/serving/ray_internals.py).
"""
import sys
import time
from pathlib import Path
from typing import Any, Dict, List

# The name of each replica's actor: this prefix, then a unique id (ray/serve/_private/common.py, ReplicaID).
REPLICA_ACTOR_PREFIX = "SERVE_REPLICA::{app}#{deployment}#"
# The title Ray gives the process of a replica (the actor's class name) and of Serve's HTTP proxy.
REPLICA_PROCESS_TITLE = "ServeReplica:{app}:{deployment}"
PROXY_PROCESS_TITLE = "ray::ProxyActor"
# A custom resource every head node has: a deployment asking for a sliver of it is placed on the head.
HEAD_NODE_RESOURCE = "node:__internal_head__"
# Each replica's log file in the session's logs/serve folder (ray/serve/_private/utils.py, get_component_file_name).
REPLICA_LOG_GLOB = "replica_{app}_{deployment}_*.log"


def deploy_applications(applications: List[dict], timeout_s: float = 240) -> None:
    """Deploy serve config `applications` as `serve run` does and wait until each runs.

    Serve's own blocking deploy gives up after 60 s, which a few deployments loading models and a 20k-passage
    store overrun on a busy 2-core machine; a failed deployment still stops the wait at once, with Serve's reason.
    """
    from ray import serve

    submit_applications(applications)
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


def submit_applications(applications: List[dict]) -> None:
    """What `serve deploy` sends Serve's controller (a serve config's applications), without waiting."""
    from ray import serve
    from ray.serve.schema import ServeDeploySchema

    serve.context._get_global_client().deploy_apps(ServeDeploySchema.parse_obj({"applications": applications}), _blocking=False)


def proxy_port() -> int:
    """The port Serve's HTTP proxies listen on."""
    from ray import serve

    return serve.context._get_global_client().http_config.port


def replicas_by_pid(app: str, deployment: str) -> Dict[int, Any]:
    """The live replicas of a deployment, by process id, as actor handles (from the GCS's actor table, which has
    the pids; ray.util.state needs the dashboard)."""
    import ray
    from ray._private.state import actors

    prefix = REPLICA_ACTOR_PREFIX.format(app=app, deployment=deployment)
    return {actor["Pid"]: ray.get_actor(actor["Name"], namespace="serve") for actor in actors().values()
            if actor["State"] == "ALIVE" and actor["Name"].startswith(prefix)}


def ongoing_requests(replica: Any) -> int:
    """Serve's own count of the requests a replica holds (it answers beside user code)."""
    import ray

    return ray.get(replica.get_num_ongoing_requests.remote())


def raylet_pid(node: Any) -> int:
    """The raylet process of a node of ray.cluster_utils.Cluster."""
    from ray._private import ray_constants

    return node.all_processes[ray_constants.PROCESS_TYPE_RAYLET][0].process.pid


def replica_logs(logs_dir: Path, app: str = "*", deployment: str = "*") -> List[Path]:
    """The log files of the replicas of a deployment (all replicas by default) in a session's logs/serve folder."""
    return sorted(Path(logs_dir).glob(REPLICA_LOG_GLOB.format(app=app, deployment=deployment)))


def start_local_ray(num_cpus: int, metrics_port: int) -> Path:
    """A Ray cluster of this process's own (even where another runs on the machine), its metrics exported at
    `metrics_port`; returns its session folder."""
    import ray

    context = ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, log_to_driver=False,
                       _metrics_export_port=metrics_port)
    return Path(context.address_info["session_dir"])


def imported_modules(replica: Any) -> List[str]:
    """The top-level names of the modules a replica's process has imported (Ray runs a function in an actor's
    process with its `__ray_call__`)."""
    import ray

    return ray.get(replica.__ray_call__.remote(lambda _: sorted({name.split(".")[0] for name in sys.modules})))
