"""HaystackQA: the one ingress deployment. It serves the HTTP API (capitals_qa.api) over a backend of either mode."""
from typing import Dict, Optional

from fastapi import FastAPI
from ray import serve
from ray.serve.handle import DeploymentHandle

from capitals_qa.api.app import create_api
from capitals_qa.api.access import Access
from capitals_qa.api.backend import BodyLimits, Served
from capitals_qa.serving.backends import LocalPipeline, NodeChain, store_problem_now
from capitals_qa.serving.defaults import MODEL_REPLICA, QUEUES, assigned_cpus
from capitals_qa.serving.metrics import RayQAMetrics
from capitals_qa.serving.workers import QueueLimits, TorchWorkers
from capitals_qa.settings import ServiceSettings


def this_replicas_service() -> Served:
    # What Serve's class-based routes do to find `self`: the replica's instance of the deployment class.
    return serve.get_replica_context().servable_object.served


def replica_api() -> FastAPI:
    """Built in each replica (Serve calls it after __init__), over that replica's backend."""
    return create_api(this_replicas_service)


@serve.deployment(ray_actor_options=MODEL_REPLICA, **QUEUES)
@serve.ingress(replica_api)
class HaystackQA:
    """single mode: holds the whole pipeline. per_node mode (`nodes` given): walks the node deployments."""

    def __init__(self, settings: ServiceSettings, nodes: Optional[Dict[str, DeploymentHandle]] = None, root: str = "Query",
                 store_node: Optional[str] = None):
        metrics = RayQAMetrics()
        self.store = None  # the store this replica reads itself (per_node: none, the nodes have theirs)
        if nodes:
            backend = NodeChain(settings, root, nodes, store_node, metrics)
        else:
            queue = QueueLimits(settings.max_waiting_questions, settings.max_queue_wait_s)
            backend = LocalPipeline(settings, TorchWorkers(assigned_cpus(), queue), metrics)
            self.store = backend.store
        limits = BodyLimits(settings.max_question_bytes, settings.max_query_bytes, settings.max_upload_bytes, settings.max_top_k)
        self.served = Served(backend, limits, Access(settings.api_key_value, tuple(settings.cors_origin_list)), metrics,
                             settings.question_timeout_s)

    async def check_health(self) -> None:
        """Serve's periodic replica check: a replica whose store cannot be read fails it, and Serve replaces it."""
        problem = await store_problem_now(self.store)
        if problem:
            raise RuntimeError(problem)
