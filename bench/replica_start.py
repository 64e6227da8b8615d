"""How long a new replica of the embedded default takes to answer, with and without the store snapshot.

    .venv/bin/python -m bench.replica_start            # about 3 minutes on 2 cores; writes bench/results/replica_start.*

For each way of filling the store, one application with one replica is started and answers; then it is scaled
to two replicas and timed until Serve reports the new one running (its constructor has loaded the reader and
filled the store, and its first health check passed): that is when the autoscaler's new replica starts taking
questions. Questions asked right after must all be answered. The reader is a random-weight model of
roberta-base's shape (12 x 768), loaded from disk as a real one would be.
"""
import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

import json  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import requests  # noqa: E402

if not __package__:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from capitals_qa.settings import DEFAULT_PIPELINE_YAML, PROJECT_DIR  # noqa: E402
from capitals_qa.testing.models import build_qa_model  # noqa: E402

RESULTS = PROJECT_DIR / "bench" / "results"
QUESTION = "Which river flows through Budapest?"
QUESTIONS = 4  # asked right after the new replica runs; all must be answered


def in_memory_yaml(folder: Path) -> Path:
    """pipeline.yml with Haystack's InMemoryDocumentStore (rank_bm25): the default before the snapshot."""
    text = DEFAULT_PIPELINE_YAML.read_text().replace("type: SparseBM25DocumentStore", "type: InMemoryDocumentStore\n    # (bench)")
    text = text.replace("    params:\n      progress_bar: false", "    params:\n      use_bm25: true\n      progress_bar: false", 1)
    path = folder / "pipeline.in_memory.yml"
    path.write_text(text)
    return path


def time_scale_up(name: str, env: dict, url: str) -> dict:
    from ray import serve

    from capitals_qa.serving.backends import load_served_pipeline
    from capitals_qa.serving.builders import build_single_app
    from capitals_qa.settings import ServiceSettings

    os.environ.update(env)
    settings = ServiceSettings()

    def deploy(replicas: int) -> float:
        started = time.perf_counter()
        # The Pipeline deployment holds the store: its replicas are the ones that load it.
        app = build_single_app(settings, {"num_replicas": replicas, "ray_actor_options": {"num_cpus": 1}})
        serve.run(app, name="start", route_prefix="/")  # returns once every replica is running
        return time.perf_counter() - started

    first = deploy(1)
    second = deploy(2)
    answered = sum(requests.post(url, data=QUESTION, timeout=120).status_code == 200 for _ in range(QUESTIONS))
    documents = requests.get(f"{url}/health", timeout=10).json()["document_count"]
    serve.delete("start")
    # The part of a replica's start that is ours: the same load in this process, whose imports are done.
    started = time.perf_counter()
    load_served_pipeline(settings)
    load = time.perf_counter() - started
    for key in env:
        os.environ.pop(key)
    return {"row": name, "first_replica_s": round(first, 1), "new_replica_s": round(second, 1),
            "pipeline_load_s": round(load, 1), "answered": f"{answered}/{QUESTIONS}", "documents": documents}


def import_seconds() -> float:
    """What a new replica process spends importing the serving code (torch, transformers, Haystack, Ray Serve)."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import capitals_qa.serving.ingress"], check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    import ray
    from ray import serve

    work = Path(tempfile.mkdtemp(prefix="replica-start-"))
    model = build_qa_model(work / "model", size="base")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    ray.init(num_cpus=4, include_dashboard=False, log_to_driver=False)
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    reader = {"READER_PARAMS_MODEL_NAME_OR_PATH": str(model)}
    cache = str(work / "cache")
    rows = [
        time_scale_up("InMemoryDocumentStore, indexed at every start (before)",
                      {**reader, "PIPELINE_YAML": str(in_memory_yaml(work)), "STORE_CACHE_DIR": ""}, url),
        time_scale_up("SparseBM25DocumentStore, indexed at every start (STORE_CACHE_DIR empty)",
                      {**reader, "STORE_CACHE_DIR": ""}, url),
        time_scale_up("SparseBM25DocumentStore, snapshot built by the first replica, loaded by the new one (default)",
                      {**reader, "STORE_CACHE_DIR": cache}, url),
    ]
    serve.shutdown()
    ray.shutdown()
    imports = import_seconds()
    snapshot = next(Path(cache).glob("*.store.npz"))
    lines = [
        "# Time until a new replica of the embedded default answers",
        "",
        f"Measured by `python -m bench.replica_start` on {time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores"
        " (shared with other work while it ran), reader of roberta-base shape loaded from disk,"
        " the shipped Wikipedia passages. `new replica`: from asking Serve for a second replica until Serve reports it"
        " running (it then takes questions). `pipeline load`: the replica constructor's work (reader, store) timed"
        " in the benchmark's own process; the rest of a replica's start is Ray starting a worker process and"
        f" importing torch, transformers and Haystack ({imports:.1f} s in a fresh process).",
        "",
        "| store | documents | first replica (s) | new replica (s) | pipeline load (s) | answered after |",
        "| --- | --- | --- | --- | --- | --- |",
        *[f"| {r['row']} | {r['documents']} | {r['first_replica_s']} | {r['new_replica_s']} | {r['pipeline_load_s']} "
          f"| {r['answered']} |" for r in rows],
        "",
        f"Snapshot: {snapshot.stat().st_size / 1e6:.1f} MB ({snapshot.name}).",
    ]
    (RESULTS / "replica_start.md").write_text("\n".join(lines) + "\n")
    (RESULTS / "replica_start.json").write_text(json.dumps({"imports_s": round(imports, 1), "rows": rows}, indent=2) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
