"""Entry point for Ray Serve.

    serve run capitals:haystack_deployment               # configured by environment variables
    serve run capitals:app pipeline=pipeline.yml         # configured by application arguments
    serve run serve_config.yaml                          # replicas and autoscaling from the config file
"""
from capitals_qa.serving.builders import app_from_env, build_app
from capitals_qa.serving.ingress import HaystackQA

haystack_deployment = app_from_env()
app = build_app

__all__ = ["HaystackQA", "app", "haystack_deployment"]
