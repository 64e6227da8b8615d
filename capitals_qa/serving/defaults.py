"""Replica resources and options, in one place. serve_config.yaml and serve_config.per_node.yaml override them."""
import math
import os
from typing import Any, Dict

import ray

# glibc's malloc, as a replica starts: a model call allocates tens of MB per intermediate result (31 MB for 10
# windows at roberta-base size). By default glibc maps blocks that big fresh from the kernel and unmaps them when
# freed, so every call faults its pages in and has them zeroed again. Kept in the heap instead (mmap threshold
# 256 MiB, return free memory to the kernel beyond 1 GiB), a question ran faster and a new replica's first one
# too, for a few tens of MiB more resident memory: bench/results/malloc.md.
MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": str(256 << 20), "MALLOC_TRIM_THRESHOLD_": str(1 << 30)}

# Serve runs replica code on an event loop of its own thread unless told otherwise, which costs every request a
# hop between loops (measured here: 10.6 -> 9.2 ms p50 over a no-op pipeline). Our handlers never block
# that loop (pipelines run on worker threads), so they can share the replica's main loop.
REPLICA_ENV = {"RAY_SERVE_RUN_USER_CODE_IN_SEPARATE_THREAD": "0", **MALLOC_ENV}

# Read once by Serve's controller and proxies as they start, so set where Ray starts: every node's `ray start`
# (the Dockerfile's ENV), or the process whose ray.init starts a local Ray (capitals.py, for `serve run capitals:...`).
RAY_ENV = {
    # Our middleware in each HTTP proxy: Ray's own errors as JSON, refusals while overloaded (serving/proxy.py).
    "RAY_SERVE_HTTP_PROXY_CALLBACK_IMPORT_PATH": "capitals_qa.serving.proxy:middlewares",
    # Serve replaces a proxy after 3 failed health checks in a row, one per period (Serve's default 10 s): a
    # killed proxy refused connections for about 24 s. A check is one small call to the proxy.
    "RAY_SERVE_PROXY_HEALTH_CHECK_PERIOD_S": "2",
}

# The ingress only awaits the deployments that run the pipeline, so it holds many questions at once; beyond
# max_queued_requests waiting at the proxy, clients get 503 at once instead of joining an unbounded queue.
QUEUES = {"max_ongoing_requests": 64, "max_queued_requests": 64}

# A replica that Serve stops (scaling down, a new version) takes no new questions and finishes the ones it
# holds: it checks every 2 s whether it is done, for up to 60 s, the proxy's request_timeout_s in the serve
# configs, past which no client waits for an answer anyway. Serve's default of 20 s could cut questions
# queued in a busy replica; those would be asked again elsewhere (serving/retry.py), later than need be.
GRACEFUL_SHUTDOWN = {"graceful_shutdown_wait_loop_s": 2, "graceful_shutdown_timeout_s": 60}


def actor_options(num_cpus: float) -> Dict[str, Any]:
    return {"num_cpus": num_cpus, "runtime_env": {"env_vars": REPLICA_ENV}}


# A replica that runs a model gets every core of the machine that builds the app; torch threads follow it.
MODEL_REPLICA = actor_options(os.cpu_count() or 1)
# A replica that only awaits other deployments (the per-node ingress) or runs BM25 needs no reserved core.
LIGHT_REPLICA = actor_options(0)


def assigned_cpus() -> int:
    """The CPUs Ray reserved for this replica (ray_actor_options.num_cpus), one at least."""
    return max(1, math.floor(ray.get_runtime_context().get_assigned_resources().get("CPU", 0)))


def has_gpu() -> bool:
    """Whether Ray gave this replica a GPU; outside a Ray worker (a benchmark building the pipeline in its own
    process), whether torch sees one."""
    # Asked first: asking for the runtime context would start a local Ray instance where none runs.
    if ray.is_initialized():
        try:
            return ray.get_runtime_context().get_assigned_resources().get("GPU", 0) > 0
        except AssertionError:  # Ray's answer in a process that is not one of its workers
            pass
    import torch

    return torch.cuda.is_available()
