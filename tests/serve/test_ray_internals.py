"""Pins that need a running Ray: the worker pool's behaviour behind the warm worker (serving/ray_internals.py).

In a Ray of its own, in a fresh process: a light module of ours stands for the serving code that Ray preloads, and
a small deployment for the Pipeline replica.
"""
import json
import os
import subprocess
import sys

import pytest

from capitals_qa.serving import ray_internals
from capitals_qa.settings import PROJECT_DIR
from helpers import free_port

pytestmark = pytest.mark.serve

SCRIPT = """
import json, os, sys, time
import ray
from ray import serve
from capitals_qa.serving import ray_internals
from capitals_qa.serving.replica.start import process_started

# A replica as Serve runs ours: an actor of Serve's job, with a runtime_env of its own, that asks for the spare.
@serve.deployment(ray_actor_options={"num_cpus": 0, "runtime_env": {"env_vars": {"PROBE": "1"}}})
class Probe:
    def __init__(self):
        self.started = process_started()

    def __call__(self, leave: bool):
        return os.getpid(), self.started, "capitals_qa.settings" in sys.modules, ray_internals.leave_warm_worker() if leave else False

ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
serve.start(http_options={"host": "127.0.0.1", "port": int(sys.argv[2])})  # as the service runs: with its HTTP proxy
first = serve.run(Probe.bind(), name="first", route_prefix="/first")
_, _, _, asked = first.remote(sys.argv[1] == "spare").result()
time.sleep(8)  # the spare's workers start and import the preloaded module
requested = time.time()
second = serve.run(Probe.bind(), name="second", route_prefix="/second")
pid, started, preloaded, _ = second.remote(False).result()
print(json.dumps({"asked": asked, "preloaded": preloaded, "worker_age_s": requested - started}))
"""


def next_replica_after(how: str) -> dict:
    environment = {**os.environ, ray_internals.PRELOAD_MODULES: "capitals_qa.settings", ray_internals.WORKERS_SOFT_LIMIT: "16"}
    run = subprocess.run([sys.executable, "-c", SCRIPT, how, str(free_port())], cwd=PROJECT_DIR, env=environment, capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_after_a_replica_left_a_warm_worker_the_next_replica_starts_in_it_with_our_code_imported():
    warm = next_replica_after("spare")
    assert warm["asked"] and warm["preloaded"]
    assert warm["worker_age_s"] > 2, warm  # its process was there before the replica was asked for
    cold = next_replica_after("none")
    assert cold["worker_age_s"] < 2, cold  # without the spare, Ray starts a worker for the replica
