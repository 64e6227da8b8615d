"""Memory of the whole service, process by process: at ready and at its peak under 16 clients.

    .venv/bin/python -m bench.memory_bench                       # both sizes, three profiles: about 15 minutes
    .venv/bin/python -m bench.memory_bench --sizes minilm --profiles lean --duration 10 --output memory-quick

Profiles: `default` (`serve run capitals:haystack_deployment`, the code defaults), `serve_config` (`serve run
serve_config.yaml`) and `lean` (Ray started without its dashboard and log monitor, the app deployed by `serve run
--non-blocking serve_config.yaml`: docs/operations.md). Each serves the random-weight reader of each size over the
shipped passages; it is asked one question, its processes' resident memory (RSS) is read by role, then 16
closed-loop clients ask for `--duration` seconds while the memory is read every half second. A role's peak is the
most its processes held together at one reading; the tree's peak, the most all of them held. Then, in a fresh
process per size, what a Pipeline replica's memory holds: the imports, the reader, the store. Writes
bench/results/<output>.md and .json.
"""
import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

import argparse  # noqa: E402
import asyncio  # noqa: E402
import json  # noqa: E402
import shlex  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Dict, Iterator, List, Optional  # noqa: E402

if not __package__:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp  # noqa: E402
import psutil  # noqa: E402

from bench import loadgen  # noqa: E402
from bench.serve_bench import LOGS_DIR, RESULTS_DIR, choose_documents, ensure_model, machine, make_questions, progress, service_env  # noqa: E402
from bench.variants import BIN_DIR, PROJECT_DIR, SERVED, URL, serving, wait_port_free  # noqa: E402
from capitals_qa.serving.defaults import RAY_ENV  # noqa: E402
from capitals_qa.testing.lean import lean_ray  # noqa: E402

MIB = 2**20
ROLES = ("replica", "ingress", "serve run", "dashboard", "serve controller and proxy", "ray core")
INGRESSES = ("HaystackQA", "PerNodeIngress")
PROFILES = ("default", "serve_config", "lean")
# Haystack 1.x's REST API beside us, measured by the issue that asked for this benchmark (not run here).
PEER = {"ready_mib": 1245, "peak_mib": 1837}


def main(argv: Optional[List[str]] = None) -> None:
    args = parse_args(argv)
    command = shlex.join([os.path.relpath(sys.executable, PROJECT_DIR), "-m", "bench.memory_bench", *(sys.argv[1:] if argv is None else argv)])
    LOGS_DIR.mkdir(parents=True, exist_ok=True)
    documents, _ = choose_documents(None)
    questions = make_questions()
    results: Dict = {"command": command, "machine": machine(), "duration_s": args.duration, "runs": [], "replica_split": {}}
    for size in args.sizes:
        model = ensure_model(size)
        results["replica_split"][size] = replica_split(model, documents)
        progress(f"{size} replica: {results['replica_split'][size]}")
        for profile in args.profiles:
            progress(f"{size} {profile}: starting")
            env = {**service_env(documents, model=model), **RAY_ENV}
            with running(profile, env, LOGS_DIR / f"{args.output}-{size}-{profile}.log", questions[0]) as root:
                run = asyncio.run(measure(root, questions, args.duration))
            run.update(size=size, profile=profile)
            results["runs"].append(run)
            progress(f"{size} {profile}: ready {run['ready']['total']} MiB, peak {run['peak']['total']} MiB, {run['answers']} answers")
    results["machine"]["load_average_end"] = os.getloadavg()
    (RESULTS_DIR / f"{args.output}.json").write_text(json.dumps(results, indent=1))
    markdown = report(results)
    (RESULTS_DIR / f"{args.output}.md").write_text(markdown)
    print("\n" + markdown)


def parse_args(argv: Optional[List[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="minilm,base", type=lambda text: text.split(","), help="reader sizes (default minilm,base)")
    parser.add_argument("--profiles", default=",".join(PROFILES), type=lambda text: text.split(","), help=f"some of {','.join(PROFILES)}")
    parser.add_argument("--duration", type=float, default=30, help="seconds of load at 16 clients (default 30)")
    parser.add_argument("--output", default="memory", help="result files bench/results/<output>.md, .json")
    return parser.parse_args(argv)


@contextmanager
def running(profile: str, env: Dict[str, str], log: Path, question: str) -> Iterator[psutil.Process]:
    """The profile's service until the block ends; yields the process whose descendants (and itself) are the tree."""
    if profile == "lean":
        config = SERVED["ours-serve-config"].target[0]
        with lean_ray(env, log.with_suffix(".ray.log")) as ray:
            wait_port_free(60)
            deploy = subprocess.run([str(BIN_DIR / "serve"), "run", "--address", ray.address, "--non-blocking", config], cwd=PROJECT_DIR,
                                    env=env, capture_output=True, text=True, timeout=600)
            log.write_text(deploy.stdout + deploy.stderr)
            if deploy.returncode != 0:
                raise RuntimeError(f"serve run --non-blocking failed: {deploy.stderr[-2000:]}")
            wait_answered(question)
            yield psutil.Process(ray.process.pid)
        wait_port_free(60)
        return
    served = SERVED["ours-code-defaults" if profile == "default" else "ours-serve-config"]
    with serving(served, env, log, question, 600, False):
        (serve_run,) = [child for child in psutil.Process().children() if "serve" in " ".join(child.cmdline())]
        yield serve_run


def wait_answered(question: str, timeout_s: float = 600) -> None:
    import requests

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if requests.post(URL, data=question.encode(), timeout=60).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(1)
    raise RuntimeError(f"no answer within {timeout_s} s")


def role(process: psutil.Process) -> str:
    line = " ".join(process.cmdline())
    if "ServeReplica:" in line:
        return "ingress" if any(f":{name}" in line for name in INGRESSES) else "replica"
    if "bin/serve run" in line:
        return "serve run"
    if line.startswith("ray-dashboard-") or "dashboard/dashboard.py" in line:
        return "dashboard"
    if "ServeController" in line or "ProxyActor" in line:
        return "serve controller and proxy"
    return "ray core"


def reading(root: psutil.Process) -> Dict[str, int]:
    """MiB by role, and the processes of each role, now. The root counts when it is `serve run`; the lean profile's
    root is the benchmark's `ray start --block`, which a user's `ray start` does not leave running."""
    found: Dict[str, int] = {name: 0 for name in ROLES}
    counts: Dict[str, int] = {name: 0 for name in ROLES}
    tree = root.children(recursive=True) + ([root] if "bin/serve run" in " ".join(root.cmdline()) else [])
    for process in tree:
        try:
            name, rss = role(process), process.memory_info().rss
        except psutil.NoSuchProcess:
            continue
        found[name] += rss
        counts[name] += 1
    mib = {name: round(value / MIB) for name, value in found.items()}
    mib["total"] = sum(mib[name] for name in ROLES)
    mib["processes"] = counts
    return mib


async def measure(root: psutil.Process, questions: List[str], duration_s: float) -> Dict:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=loadgen.REQUEST_TIMEOUT_S)) as session:
        await loadgen.ask(session, URL, questions[0])
        await asyncio.sleep(2)
        ready = reading(root)
        readings: List[Dict] = []
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                readings.append(reading(root))
                time.sleep(0.5)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        measurement = await loadgen.closed_loop(session, URL, questions, 16, duration_s)
        done.set()
        sampler.join()
    peak = {name: max(r[name] for r in readings) for name in [*ROLES, "total"]}
    return {"ready": ready, "peak": peak, "answers": len(measurement.latencies_ms), "errors": measurement.errors}


SPLIT = """
import json, sys, psutil
rss = lambda: psutil.Process().memory_info().rss / 2**20
steps = {"python": rss()}
from capitals_qa.serving.replica import local_pipeline  # what a Pipeline replica imports
steps["imports"] = rss()
from capitals_qa.pipeline.precision import set_reader_precision
from capitals_qa.pipeline.yaml_pipelines import YamlPipelines, fill_document_store
from capitals_qa.settings import ServiceSettings
from capitals_qa.testing.models import local_model_overrides
settings = ServiceSettings(documents=sys.argv[2], node_overrides=local_model_overrides(sys.argv[1]))
pipelines = YamlPipelines(settings.pipeline, settings.node_overrides)
reader = pipelines.component("Reader")
steps["reader fp32"] = rss()
set_reader_precision([("Reader", reader)], "int8", False)
steps["reader int8"] = rss()
if any(node["name"] == "DenseRetriever" for node in pipelines.nodes("query")):
    pipelines.component("DenseRetriever")
    steps["dense retriever"] = rss()
store = pipelines.component("DocumentStore")
fill_document_store(pipelines, store, settings.documents, settings.store_cache)
steps["store"] = rss()
state = store.index_state()
index_mib = sum(getattr(value, "nbytes", 0) for value in state.values()) / 2**20
text_mib = sum(len(doc.content.encode()) for doc in store.indexes[store.index].values()) / 2**20
print(json.dumps({"steps": steps, "index_arrays_mib": index_mib, "passage_text_mib": text_mib}))
"""


def replica_split(model: Path, documents: Path) -> Dict:
    """In a fresh process, as a Pipeline replica of serve_config.yaml builds itself: RSS after each step."""
    run = subprocess.run([sys.executable, "-c", SPLIT, str(model), str(documents)], cwd=PROJECT_DIR, capture_output=True, text=True, check=True)
    found = json.loads(run.stdout.strip().splitlines()[-1])
    steps = found["steps"]
    names = list(steps)
    return {
        "python_mib": round(steps["python"]),
        "imports_mib": round(steps["imports"] - steps["python"]),
        "reader_fp32_mib": round(steps["reader fp32"] - steps["imports"]),
        "int8_change_mib": round(steps["reader int8"] - steps["reader fp32"]),
        "store_mib": round(steps["store"] - steps["reader int8"]),
        "index_arrays_mib": round(found["index_arrays_mib"]),
        "passage_text_mib": round(found["passage_text_mib"]),
        "total_mib": round(steps[names[-1]]),
    }


def report(results: Dict) -> str:
    m = results["machine"]
    lines = [
        "# Memory of the whole service, process by process",
        "",
        f"`{results['command']}`, {m['date']}; {m['cores']} cores, {m['memory_gib']} GiB; load average "
        f"{', '.join(f'{x:.1f}' for x in m['load_average_start'])} at the start, "
        f"{', '.join(f'{x:.1f}' for x in m['load_average_end'])} at the end.",
        "",
        "Resident memory (RSS, MiB) of every process of the service's tree, by role, after one question (ready) and "
        f"at its most under 16 closed-loop clients for {results['duration_s']:.0f} s (peak; a role's peak is the most its "
        "processes held together at one reading, every 0.5 s). `ray core`: GCS, raylet, Ray's agents, the autoscaler "
        "monitor and log monitor, idle workers.",
        "",
        "| size | profile | " + " | ".join(ROLES) + " | total | answers |",
        "| --- | --- | " + " | ".join("---:" for _ in ROLES) + " | ---: | ---: |",
    ]
    for run in results["runs"]:
        cells = [f"{run['ready'][name]} / {run['peak'][name]}" for name in ROLES]
        lines.append(f"| {run['size']} | {run['profile']} | " + " | ".join(cells)
                     + f" | **{run['ready']['total']} / {run['peak']['total']}** | {run['answers']} |")
    lines += ["", "Each cell: ready / peak.", "",
              f"Haystack 1.x's REST API (`rest_api/`, gunicorn with one uvicorn worker, MiniLM-size reader) held {PEER['ready_mib']} MiB "
              f"ready and {PEER['peak_mib']} MiB at its peak under 16 clients, as measured for the issue that asked for this "
              "benchmark (not run here). Ratios of our tree's peak to that peak:", ""]
    for run in results["runs"]:
        lines.append(f"- {run['size']} {run['profile']}: {run['peak']['total'] / PEER['peak_mib']:.2f} x")
    lines += ["", "What a Pipeline replica holds, built step by step in a fresh process (MiB of RSS added by each step; "
              "`reader int8` is what `reader_precision: auto` changes on CPU):", "",
              "| size | Python | imports (Haystack, transformers, torch, Ray) | reader fp32 | int8 | store: passages and BM25 index | of which index arrays | of which passage text | total |",
              "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for size, split in results["replica_split"].items():
        lines.append(f"| {size} | {split['python_mib']} | {split['imports_mib']} | {split['reader_fp32_mib']} | {split['int8_change_mib']} | "
                     f"{split['store_mib']} | {split['index_arrays_mib']} | {split['passage_text_mib']} | {split['total_mib']} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
