"""Entry point for Ray Serve.

    serve run capitals:haystack_deployment               # configured by environment variables
    serve run capitals:app pipeline=pipeline.yml         # configured by application arguments
    serve run serve_config.yaml                          # replicas and autoscaling from the config file
"""
import os

from capitals_qa.serving.defaults import RAY_ENV

# Settings Serve's controller and proxies read as they start: our middleware in the proxies, their health checks
# (serving/defaults.py). `serve run capitals:...` imports this module before it starts Ray, whose processes
# inherit these; a Ray started otherwise (`ray start`, a config file) needs them set where it starts.
for name, value in RAY_ENV.items():
    os.environ.setdefault(name, value)

from capitals_qa.serving.builders import app_from_env, build_app  # noqa: E402
from capitals_qa.serving.ingress.deployment import HaystackQA

haystack_deployment = app_from_env()
app = build_app

__all__ = ["HaystackQA", "app", "haystack_deployment"]
