"""Deployment options and the environment Ray's processes get, in one place. The serve config files override the
options; docs/configuration.md and docs/performance.md give the figures behind each value."""
import os
from typing import Any, Dict

from ray.serve.schema import LoggingConfig

from capitals_qa.serving import ray_internals

# glibc's malloc in each replica: keep a model call's large intermediate blocks in the heap between calls instead
# of mapping them fresh from the kernel (and having their pages zeroed) at every call.
MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": str(256 << 20), "MALLOC_TRIM_THRESHOLD_": str(1 << 30)}

# Replica handlers never block their event loop (pipelines run on worker threads), so they share Serve's main
# loop instead of paying a hop to a loop of their own at every request.
REPLICA_ENV = {ray_internals.USER_CODE_IN_SEPARATE_THREAD: "0", **MALLOC_ENV}

# Read once by Serve's controller and proxies as they start, so set where Ray starts: every node's `ray start`
# (the Dockerfile's ENV), or the process whose ray.init starts a local Ray (capitals.py, for `serve run capitals:...`).
RAY_ENV = {
    # Our middleware in each HTTP proxy: Ray's own errors as JSON (serving/proxy.py).
    ray_internals.PROXY_CALLBACK: "capitals_qa.serving.proxy:middlewares",
    # Serve replaces a proxy after 3 failed health checks in a row, one per period (Serve's default: 10 s).
    ray_internals.PROXY_HEALTH_CHECK_PERIOD: "2",
}

# The ingress only awaits other deployments, so it holds many requests at once. Enough that Serve's proxy never
# queues a request for it, and never reaches max_queued_requests, whose refusal is Ray's plain text: overload is
# answered by the model replicas' queues, in JSON (docs/operations.md, "Overload").
INGRESS_QUEUES = {"max_ongoing_requests": 1000, "max_queued_requests": -1}

# A replica that Serve stops (scaling down, a new version) takes no new questions and finishes the ones it
# holds, checked every 2 s, for up to 60 s: the proxy's request_timeout_s in the serve configs, past which no
# client waits for an answer anyway.
GRACEFUL_SHUTDOWN = {"graceful_shutdown_wait_loop_s": 2, "graceful_shutdown_timeout_s": 60}

# A document store that does not answer within this is as good as down for a client (Elasticsearch's own
# timeout is 30 s): /health and Serve's replica checks say so.
STORE_CHECK_TIMEOUT_S = 5.0

# Deployments that only the ingress calls: the ingress logs one line per question (request id, latency,
# outcome), so Serve's access line per call there would repeat it, on the model's cores.
ACCESS_LOG_OFF = LoggingConfig(enable_access_log=False)


def actor_options(num_cpus: float) -> Dict[str, Any]:
    return {"num_cpus": num_cpus, "runtime_env": {"env_vars": REPLICA_ENV}}


# A replica that runs a model gets every core of the machine that builds the app; torch threads follow it.
MODEL_REPLICA = actor_options(os.cpu_count() or 1)
# A replica that only awaits other deployments (the per-node ingress) or runs BM25 needs no reserved core.
LIGHT_REPLICA = actor_options(0)
