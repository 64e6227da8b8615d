"""HaystackQA: the one ingress deployment. It serves the HTTP API (capitals_qa.api) over a backend of either mode."""
import logging
from typing import Dict, Optional, Sequence

from fastapi import FastAPI
from ray import serve
from ray.serve.handle import DeploymentHandle

from capitals_qa import tracing
from capitals_qa.api.access import Access, writes_open
from capitals_qa.api.answer_cache import AnswerCache
from capitals_qa.api.app import create_api
from capitals_qa.api.backend import BodyLimits, Served
from capitals_qa.serving import ray_internals
from capitals_qa.serving.defaults import GRACEFUL_SHUTDOWN, INGRESS_QUEUES, LIGHT_REPLICA
from capitals_qa.serving.ingress.node_graph import NodeGraph
from capitals_qa.serving.ingress.remote_pipeline import RemotePipeline
from capitals_qa.serving.metrics import RayQAMetrics
from capitals_qa.settings import ServiceSettings

logger = logging.getLogger("ray.serve")


def access_for(settings: ServiceSettings, listens_on: str) -> Access:
    """Who may call, said once in the log as the ingress starts."""
    open_writes = writes_open(settings.api_key_value, settings.open_writes, listens_on)
    askers = "holders of the API key" if settings.api_key_value else f"anyone who reaches {listens_on}"
    writers = ("holders of the API key" if settings.api_key_value else askers) if open_writes else "nobody (403: set API_KEY, or OPEN_WRITES=true)"
    logger.info("access: questions and reads open to %s; uploads, deletes and feedback writes open to %s", askers, writers)
    return Access(settings.api_key_value, tuple(settings.cors_origin_list), open_writes)


def this_replicas_service() -> Served:
    return ray_internals.this_replicas_instance().served


def replica_api() -> FastAPI:
    """Built in each replica (Serve calls it after __init__), over that replica's backend."""
    return create_api(this_replicas_service)


@serve.deployment(ray_actor_options=LIGHT_REPLICA, **INGRESS_QUEUES, **GRACEFUL_SHUTDOWN)
@serve.ingress(replica_api)
class HaystackQA:
    """The HTTP API; the pipeline runs in other deployments, so a question survives the death of a replica.

    single mode (`pipeline` given): hands each question to the Pipeline deployment (replica/pipeline_replica.py).
    per_node mode (`nodes` given): walks the node deployments (replica/node_replica.py).
    """

    def __init__(
        self,
        settings: ServiceSettings,
        pipeline: Optional[DeploymentHandle] = None,
        nodes: Optional[Dict[str, DeploymentHandle]] = None,
        root: str = "Query",
        edges: Sequence[Sequence[str]] = (),
        store_node: Optional[str] = None,
        readers: Sequence[str] = (),
    ):
        tracing.configure()
        metrics = RayQAMetrics()
        if nodes:
            backend = NodeGraph(settings, root, nodes, edges, store_node, metrics, readers)
        elif pipeline is not None:
            backend = RemotePipeline(pipeline, settings.write_log)
        else:
            raise ValueError("HaystackQA needs the Pipeline deployment (single mode) or the node deployments (per_node)")
        limits = BodyLimits(settings.max_question_bytes, settings.max_query_bytes, settings.max_upload_bytes, settings.max_top_k)
        access = access_for(settings, ray_internals.http_host())
        cache = AnswerCache(settings.answer_cache_max_entries, settings.answer_cache_max_bytes, settings.answer_cache_ttl_s,
                            metrics.cache_event)
        self.served = Served(backend, limits, access, metrics,
                             settings.question_timeout_s, cache)
