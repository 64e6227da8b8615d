"""What the ingress -> Pipeline hop of single mode costs per question, against the pipeline in the HTTP replica.

    python -m bench.hop_bench            # about 2 minutes on 2 shared cores; bench/results/hop.md and hop.json

Two applications side by side in one Ray Serve, same settings, same process count and one client asking one
question after another, in alternating rounds so that both see the same machine:
- "hop": this service's single mode (`build_single_app`): HaystackQA ingress -> Pipeline replica (handle call).
- "no hop": the same API served by a replica that holds the pipeline itself, as single mode did before the
  ingress could retry a question whose replica died (docs/operations.md, "Nothing lost when a replica or node dies").
Pipelines: bench/noop.yml (BM25 top 1, no reader: the serving cost shows) and pipeline.yml with the tiny
local reader (a cheap real question), both over the bundled 248 countries (data/countries.jsonl), where a
question costs little besides serving.
"""
import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List

import requests

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR))

from bench.loadgen import percentile  # noqa: E402

RESULTS_DIR = PROJECT_DIR / "bench" / "results"
QUESTIONS = ["What is the capital of Italy?", "What is the capital of Peru?", "Which languages are spoken in Belgium?"]


def no_hop_deployment():
    """The pipeline in the HTTP replica: HaystackQA as it was, a LocalPipeline backend in the ingress itself."""
    from ray import serve

    from capitals_qa.api.access import Access
    from capitals_qa.api.backend import BodyLimits, Served
    from capitals_qa.serving.replica.local_pipeline import LocalPipeline
    from capitals_qa.serving.defaults import REPLICA_ENV
    from capitals_qa.serving.ingress.deployment import replica_api
    from capitals_qa.serving.metrics import RayQAMetrics
    from capitals_qa.serving.replica.workers import TorchWorkers

    @serve.deployment(name="NoHop", ray_actor_options={"num_cpus": 1, "runtime_env": {"env_vars": REPLICA_ENV}})
    @serve.ingress(replica_api)
    class NoHop:
        def __init__(self, settings):
            # What HaystackQA's __init__ builds, with the pipeline in this replica instead of behind a handle.
            metrics = RayQAMetrics()
            limits = BodyLimits(settings.max_question_bytes, settings.max_query_bytes, settings.max_upload_bytes, settings.max_top_k)
            access = Access(settings.api_key_value, tuple(settings.cors_origin_list))
            self.served = Served(LocalPipeline(settings, TorchWorkers(1), False, metrics), limits, access, metrics)

    return NoHop


def deploy(pipeline_yaml: str, model: Path) -> Dict[str, str]:
    import os

    from ray import serve

    from capitals_qa.serving.builders import build_single_app
    from capitals_qa.serving.defaults import REPLICA_ENV
    from capitals_qa.settings import ServiceSettings

    from capitals_qa.testing.models import local_model_overrides

    os.environ.update(local_model_overrides(model))
    settings = ServiceSettings(pipeline=pipeline_yaml, documents=str(PROJECT_DIR / "data" / "countries.jsonl"))
    name = Path(pipeline_yaml).stem
    pipeline_options = {"ray_actor_options": {"num_cpus": 1, "runtime_env": {"env_vars": REPLICA_ENV}}}
    serve.run(build_single_app(settings, pipeline_options), name=f"hop-{name}", route_prefix=f"/hop-{name}")
    serve.run(no_hop_deployment().bind(settings), name=f"nohop-{name}", route_prefix=f"/nohop-{name}")
    return {"hop": f"/hop-{name}", "no hop": f"/nohop-{name}"}


def ask(url: str, count: int, session: requests.Session) -> List[float]:
    latencies = []
    for n in range(count):
        started = time.perf_counter()
        response = session.post(url, data=QUESTIONS[n % len(QUESTIONS)], timeout=60)
        latencies.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=6, help="alternating rounds per variant (default 6)")
    parser.add_argument("--per-round", type=int, default=50, help="questions per round (default 50)")
    args = parser.parse_args()

    import ray
    from ray import serve

    from capitals_qa.testing.models import build_qa_model
    from tests.helpers import free_port, wait_until_ready

    model = build_qa_model(Path(tempfile.mkdtemp()) / "tiny-qa")
    port = free_port()
    ray.init(num_cpus=4, include_dashboard=False, log_to_driver=False)
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    base = f"http://127.0.0.1:{port}"
    results: Dict[str, Dict] = {}
    try:
        for pipeline_yaml in ["bench/noop.yml", "pipeline.yml"]:
            routes = deploy(str(PROJECT_DIR / pipeline_yaml), model)
            session = requests.Session()
            for route in routes.values():
                wait_until_ready(base + route)
                ask(base + route, 20, session)  # warm-up
            latencies: Dict[str, List[float]] = {variant: [] for variant in routes}
            for _ in range(args.rounds):
                for variant, route in routes.items():
                    latencies[variant] += ask(base + route, args.per_round, session)
            figures = {variant: {"p50_ms": percentile(values, 50), "p99_ms": percentile(values, 99), "mean_ms": statistics.mean(values), "questions": len(values)} for variant, values in latencies.items()}
            figures["added_p50_ms"] = figures["hop"]["p50_ms"] - figures["no hop"]["p50_ms"]
            results[pipeline_yaml] = figures
            print(pipeline_yaml, json.dumps(figures), flush=True)
    finally:
        serve.shutdown()
        ray.shutdown()
    save(results, args)


def save(results: Dict, args) -> None:
    machine = f"{platform.processor() or platform.machine()}, {__import__('os').cpu_count()} cores (shared with other work)"
    (RESULTS_DIR / "hop.json").write_text(json.dumps({"machine": machine, "args": vars(args), "results": results}, indent=2) + "\n")
    lines = [
        "# Single mode's ingress -> Pipeline hop: added latency",
        "",
        f"`python -m bench.hop_bench` on {machine}; one client, questions one after another, "
        f"{args.rounds} alternating rounds of {args.per_round} per variant.",
        "",
        "| pipeline | no hop p50 ms | hop p50 ms | added p50 ms | no hop p99 ms | hop p99 ms |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for pipeline_yaml, figures in results.items():
        no_hop, hop = figures["no hop"], figures["hop"]
        lines.append(
            f"| `{pipeline_yaml}` | {no_hop['p50_ms']:.1f} | {hop['p50_ms']:.1f} | {figures['added_p50_ms']:.1f} "
            f"| {no_hop['p99_ms']:.1f} | {hop['p99_ms']:.1f} |"
        )
    (RESULTS_DIR / "hop.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
