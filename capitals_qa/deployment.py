"""The single-deployment mode: one Serve replica runs the whole pipeline."""
import functools
import os
from typing import Any, Dict, Optional

from ray import serve

from capitals_qa.pipelines import (
    document_count,
    load_pipeline,
    node_parameters,
    unsupported_parameters,
)
from capitals_qa.server.app import QARoutes, api
from capitals_qa.settings import ServiceSettings
from capitals_qa.workers import TorchWorkers, assigned_cpus, guard_for_threads

# Serve runs replica code on an event loop of its own thread unless told otherwise, which costs every request a
# hop between loops (measured here: 10.6 -> 9.2 ms p50 over a no-op pipeline). Our handlers never block
# that loop (pipelines run on worker threads), so they can share the replica's main loop.
REPLICA_ENV = {"RAY_SERVE_RUN_USER_CODE_IN_SEPARATE_THREAD": "0"}


@serve.deployment(
    # A lone replica gets every core of the machine that builds the app; serve_config.yaml sets its own.
    # Torch threads follow it: all of them for a lone question, shared when questions overlap.
    ray_actor_options={"num_cpus": os.cpu_count() or 1, "runtime_env": {"env_vars": REPLICA_ENV}},
    # Questions wait inside the replica (its event loop stays free, so /health answers while they run).
    max_ongoing_requests=32,
    # Beyond this many waiting at the proxy, clients get 503 at once instead of joining an unbounded queue.
    max_queued_requests=64,
)
@serve.ingress(api)
class HaystackQA(QARoutes):
    def __init__(self, settings: ServiceSettings):
        self.workers = TorchWorkers(assigned_cpus())
        self.settings = settings
        self.pipeline = load_pipeline(settings)
        self.store = self.pipeline.get_document_store()
        guard_for_threads(self.store)
        self.node_parameters = node_parameters(self.pipeline)
        self.unsupported_parameters = unsupported_parameters(self.store)

    async def run_pipeline(self, query: str, params: Optional[Dict[str, Any]], debug: bool) -> Dict[str, Any]:
        run = functools.partial(self.pipeline.run, query=query, params=params, debug=debug)
        return await self.workers.run(run, exclusive=debug)

    async def params_rules(self):
        return self.node_parameters, self.unsupported_parameters

    async def health_info(self) -> Dict[str, Any]:
        return {
            "mode": "single",
            "pipeline": self.settings.pipeline_name,
            "pipeline_yaml": self.settings.pipeline_yaml,
            "nodes": list(self.node_parameters),
            "document_count": document_count(self.store),
        }
