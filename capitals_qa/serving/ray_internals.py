"""Every use of Ray behaviour that Ray does not document as stable, in one place.

Each is pinned to the Ray version in pyproject.toml by tests/unit/test_ray_internals.py (and, where it needs a
running Ray, tests/serve/test_ray_internals.py): a Ray upgrade that changes one fails there first.
Imports nothing heavy: Serve's proxy loads this module (serving/proxy.py).
"""
import os
from typing import Any, Mapping

import ray
from ray.exceptions import RayTaskError
from ray.serve.handle import DeploymentHandle

# --- Variables Ray reads from its environment, undocumented (ray/serve/_private/constants.py, Ray's config) ---

# Serve's HTTP proxies: an import path of a function returning Starlette middlewares to wrap each proxy in.
PROXY_CALLBACK = "RAY_SERVE_HTTP_PROXY_CALLBACK_IMPORT_PATH"
# Serve's controller: seconds between health checks of a proxy (3 failed in a row and it is replaced).
PROXY_HEALTH_CHECK_PERIOD = "RAY_SERVE_PROXY_HEALTH_CHECK_PERIOD_S"
# Each replica: "0" runs our handlers on the replica's main event loop instead of a loop of their own.
USER_CODE_IN_SEPARATE_THREAD = "RAY_SERVE_RUN_USER_CODE_IN_SEPARATE_THREAD"
# Each raylet: modules every Ray worker imports before it takes work, and how many idle workers it keeps.
PRELOAD_MODULES = "RAY_preload_python_modules"
WORKERS_SOFT_LIMIT = "RAY_num_workers_soft_limit"


# --- `ray start` options of the lean profile (docs/operations.md) ---

RAY_START_LEAN = [
    "--include-dashboard=false",  # documented: no dashboard head modules (the head keeps its usage-stats module)
    "--include-log-monitor=false",  # documented
    "--disable-usage-stats",  # documented
    "--no-monitor",  # hidden: no autoscaler monitor, which a single machine has no use for
]


# --- Serve's proxy ---

def is_rays_own_error(status: int, headers: Mapping[bytes, bytes]) -> bool:
    """Whether an error answer was made by Ray's proxy itself (no route yet, backpressure, a time limit): Ray
    answers those in plain text, while the API answers every error as JSON."""
    return status >= 400 and headers.get(b"content-type", b"").startswith(b"text/plain")


# --- Serve's replicas and handles ---

def this_replicas_instance() -> Any:
    """The instance of the deployment class this replica runs (what Serve's class-based routes use to find `self`;
    a DeveloperAPI field)."""
    return ray.serve.get_replica_context().servable_object


def http_host() -> str:
    """The address Serve's HTTP proxies listen on (`http_options.host`), as Serve's controller has it."""
    from ray.serve.context import _get_global_client

    return _get_global_client().http_config.host


def start_router(handle: DeploymentHandle) -> None:
    """Create the handle's router now, which asks Serve's controller for the running replicas at once (it is
    otherwise created at the first call)."""
    handle.options()


def has_running_replica(handle: DeploymentHandle) -> bool:
    """Whether the handle's router has heard of a running replica (Serve's proxy asks the same before it routes)."""
    return handle.running_replicas_populated()


def cause_of(error: RayTaskError) -> BaseException:
    """The exception a deployment raised, as Ray delivers it to the caller wrapped in a RayTaskError."""
    return error.cause


# --- Ray's worker pool, behind the warm worker ---

@ray.remote(num_cpus=0)
def _spare() -> None:
    """Nothing: the worker Ray starts for it has imported the serving code before it runs anything."""


def leave_warm_worker() -> bool:
    """Have Ray start an idle worker, with the serving code imported, for the next replica to start in; returns
    whether one was asked for.

    Rests on how Ray's worker pool behaves (docs/operations.md, "A new replica in seconds"): with PRELOAD_MODULES
    set, every worker a raylet starts imports them first; a task started in a replica runs in a new worker of the
    replica's job and runtime_env, and Ray starts a second one beside it that stays idle (up to WORKERS_SOFT_LIMIT
    idle workers are kept; seen with Serve's HTTP proxy running, as the service runs); Ray places the next replica
    in that idle worker. Without both variables the spare would be wasted work, so none is asked for.
    """
    if "capitals_qa" in os.environ.get(PRELOAD_MODULES, "") and os.environ.get(WORKERS_SOFT_LIMIT):
        _spare.remote()
        return True
    return False

