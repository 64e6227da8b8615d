# Capitals QA: the Ray Serve application, plus the `capitals-index` command the compose indexer runs.
#   docker build -t capitals-qa .
#   docker run --rm -p 8000:8000 -p 8265:8265 --shm-size=2g capitals-qa   # embedded store, Wikipedia passages
# docker-compose.yml runs it over Elasticsearch (docs/operations.md, "Elasticsearch with Docker").
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HAYSTACK_TELEMETRY_ENABLED=False \
    RAY_USAGE_STATS_ENABLED=0 \
    HF_HOME=/home/app/.cache/huggingface

# The service runs as this user. The hub cache exists before VOLUME below, owned by the user, so a fresh
# named volume mounted there starts with that ownership and the models it downloads are kept.
RUN useradd --create-home --uid 1000 --user-group app \
    && mkdir -p "$HF_HOME" \
    && chown -R app:app /home/app/.cache

WORKDIR /app

# KubeRay's readiness probe of a RayService worker pod runs `wget` against Ray's and Serve's health endpoints
# (deploy/kuberay/rayservice.yaml); the slim base image has none.
RUN apt-get update && apt-get install -y --no-install-recommends wget && rm -rf /var/lib/apt/lists/*

# The CPU wheel first, from PyTorch's CPU index: the project's `torch==2.13.0` is then already satisfied
# (2.13.0+cpu), and pip does not fetch the CUDA build and its gigabytes of nvidia-* wheels from PyPI.
RUN pip install --no-cache-dir --index-url https://download.pytorch.org/whl/cpu torch==2.13.0

# The project with pyproject.toml's pinned set. Editable, so that the code finds pipeline.yml, pipelines/
# and data/ next to itself in /app (capitals_qa/settings.py, PROJECT_DIR).
COPY pyproject.toml README.md capitals.py ./
COPY capitals_qa/ capitals_qa/
RUN pip install --no-cache-dir -e .

# Pipelines, serve_config.yaml and data: editing them does not redo the install above (.dockerignore
# keeps the virtualenv, git and caches out).
COPY . .

USER app

# capitals_qa/serving/defaults.py's RAY_ENV (tests/unit/test_compose.py checks they agree), read by Serve's
# controller and proxies, which `ray start` below starts: our middleware in the proxies, their health checks.
ENV RAY_SERVE_HTTP_PROXY_CALLBACK_IMPORT_PATH=capitals_qa.serving.proxy:middlewares \
    RAY_SERVE_PROXY_HEALTH_CHECK_PERIOD_S=2

# Ray's token authentication: the dashboard, job submission and the GCS ask every client for the token
# (docs/operations.md, "Ports and who may reach them"). The token comes from RAY_AUTH_TOKEN (docker-compose.yml
# reads it from ray-auth.env, never committed; KubeRay from a Secret); without one, the command below makes one
# inside the container (`docker exec <container> ray get-auth-token` prints it).
ENV RAY_AUTH_MODE=token

# Models downloaded from the hub (reader, DPR encoders) are kept here across container restarts.
VOLUME ["/home/app/.cache/huggingface"]

# 8000: Serve's HTTP proxy (serve_config.yaml, http_options). 8265: the Ray dashboard.
EXPOSE 8000 8265

# A token for Ray if none was given, Ray's head node with its dashboard on every interface (its default,
# 127.0.0.1, is unreachable through a published port), then `serve run` attached to that cluster (--address auto fails rather than starting a
# second one). serve run blocks and streams logs, so it keeps the container alive; exec makes it the
# process that receives `docker stop`.
CMD ["sh", "-c", "[ -n \"$RAY_AUTH_TOKEN\" ] || ray get-auth-token --generate > /dev/null && ray start --head --dashboard-host=0.0.0.0 --disable-usage-stats && exec serve run --address auto serve_config.yaml"]
