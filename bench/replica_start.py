"""How long a new replica of the embedded default takes to answer, with and without the store snapshot.

    .venv/bin/python -m bench.replica_start            # about 12 minutes on 2 cores; writes bench/results/replica_start.*
    .venv/bin/python -m bench.replica_start --default  # only the snapshot rows: bench/results/replica_start-default.*

For each way of filling the store, the application is deployed from a config (`capitals:app`, one `Pipeline`
replica of 1 CPU) and answers; then the config is deployed again with `num_replicas: 2` and nothing else
changed, which is what `serve deploy` and the autoscaler do: Serve adds one replica and keeps the others (the
benchmark checks that no other replica was started). A replica's start is timed from that config change until
the new replica has answered its first question, while two clients keep the first replica busy and, once Serve
reports the new replica running, questions are sent as they would keep arriving under load; the replica logs
its phases (process created, imports done, constructor done, first health check, first answer) and the
benchmark reads them back. The reader is a random-weight model of roberta-base's shape (12 x 768), loaded from
disk as a real one would be.
"""
import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

import json  # noqa: E402
import re  # noqa: E402
import socket  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Dict, List  # noqa: E402

import requests  # noqa: E402

if not __package__:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from capitals_qa.settings import DEFAULT_PIPELINE_YAML, PROJECT_DIR  # noqa: E402
from capitals_qa.testing.models import build_qa_model, local_model_overrides  # noqa: E402

RESULTS = PROJECT_DIR / "bench" / "results"
QUESTION = "Which river flows through Budapest?"
APP = "start"
# The autoscaler adds a replica well after the last one started; a warm spare worker needs this long to be ready.
SETTLE_S = 15
PROBES, PROBE_S = 5, 0.1  # questions sent once the new replica runs, and the seconds between them
ROUNDS = 3  # starts measured of each way Ray is started
WARM_WORKERS = {"RAY_preload_python_modules": "capitals_qa.serving.replica.local_pipeline", "RAY_num_workers_soft_limit": "16"}


def in_memory_yaml(folder: Path) -> Path:
    """pipeline.yml with Haystack's InMemoryDocumentStore (rank_bm25): the default before the snapshot."""
    text = DEFAULT_PIPELINE_YAML.read_text().replace("type: SparseBM25DocumentStore", "type: InMemoryDocumentStore\n    # (bench)")
    text = text.replace("    params:\n      progress_bar: false", "    params:\n      use_bm25: true\n      progress_bar: false", 1)
    path = folder / "pipeline.in_memory.yml"
    path.write_text(text)
    return path


def config(args: Dict[str, str], replicas: int):
    from ray.serve.schema import ServeDeploySchema

    from capitals_qa.serving.defaults import REPLICA_ENV

    return ServeDeploySchema.parse_obj({"applications": [{
        # reader_precision as serve_config.yaml, whose autoscaler adds the replicas: int8 on these CPU replicas. The
        # answer cache off: the questions repeat, and each must reach a replica.
        "name": APP, "route_prefix": "/", "import_path": "capitals:app",
        "args": {"reader_precision": "auto", "answer_cache_max_entries": 0, **args},
        # As serve_config.yaml: replicas then run in a runtime_env of their own, which a spare worker must match.
        "runtime_env": {"env_vars": dict(REPLICA_ENV)},
        "deployments": [{"name": "Pipeline", "num_replicas": replicas, "ray_actor_options": {"num_cpus": 1}}],
    }]})


def replica_logs(logs: Path) -> Dict[str, Path]:
    return {path.name: path for path in (logs / "serve").glob(f"replica_{APP}_*.log")}


def start_phases(log: Path) -> Dict[str, float]:
    found = re.search(r"replica start: (\{.*?\})", log.read_text()) if log.exists() else None
    return json.loads(found.group(1)) if found else {}


def wait_running(replicas: int, timeout_s: float = 300) -> float:
    from ray import serve

    deadline = time.time() + timeout_s
    while time.time() < deadline:
        app = serve.status().applications.get(APP)
        if app and app.status == "RUNNING":
            states = app.deployments["Pipeline"].replica_states
            if states.get("RUNNING", 0) == replicas and len(states) == 1:
                return time.time()
        time.sleep(0.05)
    raise TimeoutError(f"{replicas} Pipeline replicas not running after {timeout_s} s")


def time_scale_up(name: str, args: Dict[str, str], url: str, logs: Path) -> dict:
    from ray import serve
    from ray.serve.context import _get_global_client

    from capitals_qa.pipeline.yaml_pipelines import load_served_pipelines
    from capitals_qa.settings import ServiceSettings

    client = _get_global_client()
    asked = time.time()
    client.deploy_apps(config(args, 1))
    first = wait_running(1) - asked
    assert requests.post(url, data=QUESTION, timeout=120).status_code == 200
    before = replica_logs(logs)

    # Two clients keep the first replica busy all along.
    answers: List[int] = []
    stop = threading.Event()

    def ask_once() -> int:
        status = requests.post(url, data=QUESTION, timeout=120).status_code
        answers.append(status)
        return status

    def ask() -> None:
        while not stop.is_set():
            if ask_once() != 200:  # a busy replica's 503: wait, but briefly, to see the new one soon
                time.sleep(0.25)

    clients = [threading.Thread(target=ask) for _ in range(2)]
    for thread in clients:
        thread.start()
    time.sleep(SETTLE_S)
    asked = time.time()
    client.deploy_apps(config(args, 2))
    running = wait_running(2)
    new = set(replica_logs(logs)) - set(before)
    assert len(new) == 1, f"scaling to 2 started {sorted(new)}, not one new Pipeline replica"
    log = replica_logs(logs)[new.pop()]
    # Both clients wait on the first replica. As under load, where questions keep arriving, questions are sent
    # as soon as Serve reports the new replica running (PROBES of them, PROBE_S apart, for the ingress to learn
    # of it), so that its first answer does not wait for the first replica to answer a client.
    probes = []
    for _ in range(PROBES):
        probes.append(threading.Thread(target=ask_once))
        probes[-1].start()
        time.sleep(PROBE_S)
    deadline = time.time() + 120
    while "first_answer" not in start_phases(log) and time.time() < deadline:
        time.sleep(0.1)
    stop.set()
    for thread in clients + probes:  # every question sent comes back, answered or refused
        thread.join()
    phases = start_phases(log)
    documents = requests.get(f"{url}/health", timeout=30).json()["document_count"]
    serve.delete(APP)

    # The part of a replica's start that is ours: the same load in this process, whose imports are done.
    started = time.perf_counter()
    load_served_pipelines(*ServiceSettings(**args).pipeline_source)
    load = time.perf_counter() - started
    since = {phase: round(at - asked, 2) for phase, at in phases.items()}
    return {"row": name, "first_replica_s": round(first, 1), "running_s": round(running - asked, 1),
            "takes_questions_s": since.get("first_question"), "answers_s": since.get("first_answer"), "phases_s": since, "pipeline_load_s": round(load, 1),
            "answered": f"{answers.count(200)}/{len(answers)}", "documents": documents}


def import_seconds() -> float:
    """What a new replica process spends importing the serving code (torch, transformers, Haystack, Ray Serve)."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import capitals_qa.serving.replica.local_pipeline"], check=True, capture_output=True)
    return time.perf_counter() - started


def summary(rows: List[dict], names: List[str]) -> List[str]:
    """Median (min to max) over the rounds of each way of starting, phase by phase."""
    phases = [
        ("its constructor starts (imports done)", lambda p: p["constructor"]),
        ("constructed", lambda p: p["constructed"]),
        ("its first question reaches it", lambda p: p["first_question"]),
        ("it answers that question", lambda p: p["first_answer"]),
        ("its constructor's own time", lambda p: p["constructed"] - p["constructor"]),
        ("constructed until the first question reached it", lambda p: p["first_question"] - p["constructed"]),
        ("the first question's compute", lambda p: p["first_answer"] - p["first_run"]),
    ]

    def cell(name: str, phase) -> str:
        values = sorted(phase(r["phases_s"]) for r in rows if r["row"] == name)
        return f"{statistics.median(values):.2f} ({values[0]:.2f} to {values[-1]:.2f})" if values else ""

    rounds = min(sum(r["row"] == name for r in rows) for name in names)
    return [
        f"Over the {rounds} rounds, seconds after the change, median (min to max):",
        "",
        "| new replica | " + " | ".join(["Ray as started by default", "Ray started with warm workers"][: len(names)]) + " |",
        "| --- |" + " ---: |" * len(names),
        *[f"| {label} | " + " | ".join(cell(name, phase) for name in names) + " |" for label, phase in phases],
    ]


def passages_seconds(snapshot: Path) -> Dict[str, float]:
    """The snapshot's passages made into Documents as a new replica does (snapshot.documents_from_lines: copies),
    against Haystack's Document constructor on the same lines (how it was done before), best of 3, in this process."""
    from haystack.schema import Document

    from capitals_qa.pipeline.snapshot import documents_from_lines
    from capitals_qa.pipeline.sparse_bm25 import read_state

    lines = read_state(snapshot, texts=("documents",))["documents"]

    def constructed() -> list:
        records = (json.loads(line) for line in lines.split("\n") if line)
        return [Document(content=r["content"], meta=r["meta"], id=r["id"]) for r in records]

    timed = {}
    for name, make in (("haystack_constructor_s", constructed), ("copies_s", lambda: documents_from_lines(lines))):
        runs = []
        for _ in range(3):
            started = time.perf_counter()
            make()
            runs.append(time.perf_counter() - started)
        timed[name] = round(min(runs), 3)
    return timed


def session(rows: List[dict], work: Path, model: Path, env: Dict[str, str], cases: List[tuple]) -> None:
    """One Ray instance started with `env` (its workers inherit it), and the cases timed in it."""
    import ray
    from ray import serve

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    saved = dict(os.environ)
    # Replicas, the app builder and this process read the same environment.
    os.environ.update({**local_model_overrides(model), **env})
    ray.init(address="local", num_cpus=4, include_dashboard=False, log_to_driver=False,
             _temp_dir=tempfile.mkdtemp(prefix="ray-", dir=work))
    logs = Path(ray._private.worker.global_worker.node.get_logs_dir_path())
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    for name, args in cases:
        rows.append(time_scale_up(name, args, f"http://127.0.0.1:{port}", logs))
    serve.shutdown()
    ray.shutdown()
    os.environ.clear()
    os.environ.update(saved)


def main() -> None:
    only_default = "--default" in sys.argv
    started_load = os.getloadavg()
    work = Path(tempfile.mkdtemp(prefix="replica-start-"))
    model = build_qa_model(work / "model", size="base")
    cache = str(work / "cache")
    default = "SparseBM25DocumentStore, snapshot built by the first replica, loaded by the new one (default)"
    rows: List[dict] = []
    before = [
        ("InMemoryDocumentStore, indexed at every start (before)", {"pipeline": str(in_memory_yaml(work)), "store_cache": ""}),
        ("SparseBM25DocumentStore, indexed at every start (STORE_CACHE_DIR empty)", {"store_cache": ""}),
    ]
    warm = default + ", Ray started with warm workers"
    # One start is one sample, and they move by seconds between runs: ROUNDS of each, alternating, so that a
    # change in the machine's load hits both alike.
    for round_ in range(1, ROUNDS + 1):
        session(rows, work, model, {}, ([] if only_default or round_ > 1 else before) + [(default, {"store_cache": cache})])
        session(rows, work, model, WARM_WORKERS, [(warm, {"store_cache": cache})])
    imports = import_seconds()
    load = os.getloadavg()
    snapshot = next(Path(cache).glob("*.store.npz"))
    passages = passages_seconds(snapshot)
    lines = [
        "# Time until a new replica of the embedded default answers",
        "",
        f"Measured by `python -m bench.replica_start{' --default' if only_default else ''}` on {time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores"
        f" (load average {started_load[0]:.1f} at the start, {load[0]:.1f} at the end), reader of roberta-base shape loaded from disk (`reader_precision: auto` as in serve_config.yaml: int8 here; one thread),"
        " the shipped Wikipedia passages. A new replica's start is timed from the config change that asks Serve for"
        " a second `Pipeline` replica (only `num_replicas` changes, as when the autoscaler adds one; no other replica"
        f" restarts), {SETTLE_S} s after the first one runs, two clients asking all along (after a 503, again 0.25 s later),"
        f" and {PROBES} questions {PROBE_S} s apart once Serve reports the new replica running (as questions keep arriving under load; without"
        " them its first question waited until the first replica answered a client, up to the 1.7 s of one answer). Phases, in seconds after"
        " the change, as the new replica logged them: `process`: its Ray worker process was created (negative: an"
        " idle worker that was there before); `constructor`: Serve started our constructor (imports done);"
        " `constructed`: reader loaded, store filled; `health_checked`: Serve's first health check; `first_question`:"
        " the first question reached it (it takes questions); `first_run`: a question started on its worker thread (after any wait in its queue); `first_answer`: it answered it (one question's compute"
        " on one core). `running`: when Serve reported it running. `pipeline load`: the constructor's work timed in"
        f" the benchmark's own process. Importing the serving code in a fresh process takes {imports:.1f} s."
        " Warm workers: Ray started with"
        f" {' '.join(f'`{k}={v}`' for k, v in WARM_WORKERS.items())} (docs/operations.md, \"A new replica in seconds\").",
        "",
        "| store | documents | first replica (s) | new replica takes questions (s) | answers (s) | running (s) | phases (s) | pipeline load (s) | answered |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        *[f"| {r['row']} | {r['documents']} | {r['first_replica_s']} | {r['takes_questions_s']} | {r['answers_s']} "
          f"| {r['running_s']} | {', '.join(f'{k} {v}' for k, v in r['phases_s'].items())} | {r['pipeline_load_s']} "
          f"| {r['answered']} |" for r in rows],
        "",
        *summary(rows, [default, warm]),
        "",
        f"Snapshot: {snapshot.stat().st_size / 1e6:.1f} MB ({snapshot.name}). Its {rows[-1]['documents']} passages"
        f" made into Documents in this process (JSON included, best of 3): {passages['copies_s']} s as copies of one"
        f" Document (how a replica makes them), {passages['haystack_constructor_s']} s through Haystack's Document"
        " constructor.",
    ]
    print("\n".join(lines))
    name = "replica_start-default" if only_default else "replica_start"
    (RESULTS / f"{name}.md").write_text("\n".join(lines) + "\n")
    (RESULTS / f"{name}.json").write_text(json.dumps({"imports_s": round(imports, 1), "passages": passages, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
