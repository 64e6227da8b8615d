"""Application builders: what `serve run capitals:...` and serve_config.yaml start."""
from typing import Any, Dict

from ray.serve import Application

from capitals_qa.settings import ServiceSettings


def build_app(args: Dict[str, Any]) -> Application:
    """`serve run capitals:app pipeline=... documents=... mode=...`, or `args:` in a serve config file."""
    settings = ServiceSettings.from_args(args)
    if settings.mode == "per_node":
        from capitals_qa.per_node import build_per_node_app

        return build_per_node_app(settings)
    from capitals_qa.deployment import HaystackQA

    return HaystackQA.bind(settings)


def app_from_env() -> Application:
    """`serve run capitals:haystack_deployment`: PIPELINE_YAML, PIPELINE_NAME, DOCUMENTS_PATH, SERVE_MODE, ..."""
    return build_app({})
