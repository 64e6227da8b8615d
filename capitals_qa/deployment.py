"""The single-deployment mode: one Serve replica runs the whole pipeline."""
import asyncio
import functools
import math
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, Optional

import ray
import torch
from ray import serve

from capitals_qa.pipelines import (
    document_count,
    load_pipeline,
    node_parameters,
    unsupported_parameters,
)
from capitals_qa.server.app import QARoutes, api
from capitals_qa.settings import ServiceSettings


def use_assigned_cpus() -> int:
    """Give torch as many threads as the replica has CPUs reserved, so replicas on one node do not fight."""
    cpus = ray.get_runtime_context().get_assigned_resources().get("CPU", 0)
    threads = max(1, math.floor(cpus))
    torch.set_num_threads(threads)
    return threads


@serve.deployment(
    # A lone replica gets every core of the machine that builds the app; serve_config.yaml sets its own.
    ray_actor_options={"num_cpus": os.cpu_count() or 1},
    # Questions wait inside the replica, whose event loop stays free, so /health is answered while they run.
    max_ongoing_requests=32,
    # Beyond this many waiting at the proxy, clients get 503 at once instead of joining an unbounded queue.
    max_queued_requests=64,
)
@serve.ingress(api)
class HaystackQA(QARoutes):
    def __init__(self, settings: ServiceSettings):
        self.torch_threads = use_assigned_cpus()
        self.settings = settings
        self.pipeline = load_pipeline(settings)
        self.node_parameters = node_parameters(self.pipeline)
        self.unsupported_parameters = unsupported_parameters(self.pipeline.get_document_store())
        # One thread: questions run one after another, each with all of the replica's torch threads.
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pipeline")

    async def run_pipeline(self, query: str, params: Optional[Dict[str, Any]], debug: bool) -> Dict[str, Any]:
        run = functools.partial(self.pipeline.run, query=query, params=params, debug=debug)
        return await asyncio.get_running_loop().run_in_executor(self._worker, run)

    async def params_rules(self):
        return self.node_parameters, self.unsupported_parameters

    async def health_info(self) -> Dict[str, Any]:
        return {
            "mode": "single",
            "pipeline": self.settings.pipeline_name,
            "pipeline_yaml": self.settings.pipeline_yaml,
            "nodes": list(self.node_parameters),
            "document_count": document_count(self.pipeline.get_document_store()),
        }
