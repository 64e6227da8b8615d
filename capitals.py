"""Entry point for Ray Serve.

    serve run capitals:haystack_deployment               # configured by environment variables
    serve run capitals:app pipeline=pipeline.yml         # configured by application arguments
    serve run serve_config.yaml                          # replicas and autoscaling from the config file
"""
import os

from capitals_qa.serving import proxy

# Serve's proxies answer Ray's own errors as JSON and refuse questions while the service is overloaded
# (capitals_qa/serving/proxy.py). `serve run capitals:...` imports this module before it starts Ray, whose
# processes inherit this; a Ray started otherwise (`ray start`, a config file) needs it set where it starts.
os.environ.setdefault("RAY_SERVE_HTTP_PROXY_CALLBACK_IMPORT_PATH", proxy.IMPORT_PATH)

from capitals_qa.serving.builders import app_from_env, build_app  # noqa: E402
from capitals_qa.serving.ingress import HaystackQA

haystack_deployment = app_from_env()
app = build_app

__all__ = ["HaystackQA", "app", "haystack_deployment"]
