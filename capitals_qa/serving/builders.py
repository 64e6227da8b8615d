"""Application builders: what `serve run capitals:...` and the serve config files start. They run where the
application is built: the `serve run` process, or Serve's controller for a config file. What they need to know of
the pipeline comes from a child process (pipeline/plan.py), so that process never imports the model code."""
from typing import Any, Dict, Optional

from ray.serve import Application

from capitals_qa.pipeline.plan import Plan, plan_in_child
from capitals_qa.serving.defaults import MODEL_REPLICA
from capitals_qa.serving.ingress.deployment import HaystackQA
from capitals_qa.serving.replica.node_replica import PipelineNode
from capitals_qa.serving.replica.pipeline_replica import PipelineReplica
from capitals_qa.settings import ServiceSettings


def build_app(settings: ServiceSettings) -> Application:
    """`serve run capitals:app pipeline=... documents=... mode=...`, or `args:` in a serve config file.

    Serve validates the arguments against the annotation (ServiceSettings) before calling this; a set
    environment variable wins over its argument. A pipeline that cannot load (YAML, model, Elasticsearch)
    stops here, before anything is deployed: `serve run` exits non-zero, its last line saying why.
    """
    plan = plan_in_child(settings.pipeline, settings.pipeline_name, settings.node_overrides, settings.mode == "per_node")
    if settings.mode == "per_node":
        return build_per_node_app(settings, plan)
    return build_single_app(settings)


def app_from_env() -> Application:
    """`serve run capitals:haystack_deployment`: PIPELINE_YAML, PIPELINE_NAME, DOCUMENTS_PATH, SERVE_MODE, ..."""
    return build_app(ServiceSettings())


def build_single_app(settings: ServiceSettings, pipeline_options: Optional[Dict[str, Any]] = None) -> Application:
    """The ingress (HaystackQA) in front of the Pipeline deployment, whose replicas each hold the whole pipeline."""
    pipeline = PipelineReplica.options(**(pipeline_options or {})).bind(settings)
    return HaystackQA.bind(settings, pipeline=pipeline)


def build_per_node_app(settings: ServiceSettings, plan: Plan) -> Application:
    """One deployment per node, named after the node, so a serve config can scale each by name."""
    nodes: Dict[str, Any] = {}
    for name in plan.nodes:
        options: Dict[str, Any] = {"name": name}
        if name in plan.readers:
            # A lone Reader replica gets every core, as in the single mode; serve configs set their own.
            options.update(ray_actor_options=MODEL_REPLICA, user_config=settings.reader_batching.dict())
        nodes[name] = PipelineNode.options(**options).bind(settings, name)
    ingress = HaystackQA.options(name="PerNodeIngress")
    return ingress.bind(settings, nodes=nodes, root=plan.root, edges=plan.edges, store_node=plan.store_node, readers=plan.readers)
