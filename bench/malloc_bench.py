"""A replica's questions with glibc's default malloc against the settings REPLICA_ENV gives every replica.

    .venv/bin/python -m bench.malloc_bench            # about 6 minutes on 2 cores; writes bench/results/malloc.*

Each measured run is a fresh process like a new `Pipeline` replica of 1 CPU (one torch thread): it builds the
served pipeline (LocalPipeline, the shipped Wikipedia passages from a store snapshot, a random-weight reader of
roberta-base shape loaded from disk, int8 as `reader_precision: auto` gives on CPU), then asks the first question
and 8 more. glibc reads its malloc settings from the environment when a process starts, so the two variants are
two processes started alike, one after the other, in rounds (a change in the machine's load hits both alike):
- beside a busy neighbour: another such process answers questions all along, as the running replica does
  while the autoscaler adds one (the case of bench/replica_start.py);
- alone: nothing else runs.
Figures are medians over the rounds. Writes bench/results/malloc.md and malloc.json.
"""
import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

import json  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Dict, List  # noqa: E402

if not __package__:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from capitals_qa.serving.defaults import MALLOC_ENV  # noqa: E402
from capitals_qa.settings import PROJECT_DIR  # noqa: E402

RESULTS = PROJECT_DIR / "bench" / "results"
QUESTIONS = ["Which river flows through Budapest?", "What is the capital of Peru?", "What currency does Japan use?",
             "Who was the first president of Kenya?"]
ROUNDS = {"beside a busy neighbour": 3, "alone": 2}
VARIANTS = {"glibc default": {}, "REPLICA_ENV malloc settings": MALLOC_ENV}


def served_pipeline(cache: str):
    """What a Pipeline replica of 1 CPU builds in its constructor (TorchWorkers(1): one torch thread)."""
    from capitals_qa.serving.replica.local_pipeline import LocalPipeline
    from capitals_qa.serving.replica.workers import TorchWorkers
    from capitals_qa.settings import ServiceSettings

    return LocalPipeline(ServiceSettings(store_cache=cache, reader_precision="int8"), TorchWorkers(1), has_gpu=False)


def measure(cache: str) -> None:
    """In a fresh process: constructor, first question, the mean of 8 more, and the process's memory after."""
    import capitals_qa.serving.replica.local_pipeline  # noqa: F401  what a replica's process imports as its constructor starts

    started = time.perf_counter()
    local = served_pipeline(cache)
    constructor = time.perf_counter() - started
    started = time.perf_counter()
    local.pipeline.run(query=QUESTIONS[0])
    first = time.perf_counter() - started
    started = time.perf_counter()
    for question in QUESTIONS * 2:
        local.pipeline.run(query=question)
    mean = (time.perf_counter() - started) / (2 * len(QUESTIONS))
    with open("/proc/self/status") as status:
        rss_mib = int(status.read().split("VmRSS:")[1].split()[0]) / 1024
    print(json.dumps({"constructor_s": constructor, "first_question_s": first, "question_s": mean, "rss_mib": rss_mib}))


def neighbour(cache: str) -> None:
    """In a fresh process: questions one after another until killed."""
    local = served_pipeline(cache)
    print("ready", flush=True)
    while True:
        for question in QUESTIONS:
            local.pipeline.run(query=question)


def run(mode: str, env: Dict[str, str], model: Path, cache: str) -> subprocess.Popen:
    from capitals_qa.testing.models import local_model_overrides

    child_env = {**os.environ, **local_model_overrides(model), **env}
    return subprocess.Popen([sys.executable, "-m", "bench.malloc_bench", mode, cache], cwd=PROJECT_DIR, env=child_env,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)


def measured(env: Dict[str, str], model: Path, cache: str) -> dict:
    out, _ = run("--measure", env, model, cache).communicate()
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    from capitals_qa.testing.models import build_qa_model

    work = Path(tempfile.mkdtemp(prefix="malloc-bench-"))
    model = build_qa_model(work / "model", size="base")
    cache = str(work / "cache")
    measured({}, model, cache)  # builds the store snapshot every later run loads
    runs: Dict[str, Dict[str, List[dict]]] = {case: {name: [] for name in VARIANTS} for case in ROUNDS}
    started_load = os.getloadavg()[0]
    for case, rounds in ROUNDS.items():
        for _ in range(rounds):
            busy = None
            if case == "beside a busy neighbour":
                busy = run("--neighbour", {}, model, cache)
                busy.stdout.readline()  # its pipeline is built: it answers from now on
            for name, env in VARIANTS.items():
                runs[case][name].append(measured(env, model, cache))
                print(case, name, runs[case][name][-1], flush=True)
            if busy is not None:
                busy.kill()
                busy.wait()
    rows = []
    for case in ROUNDS:
        for name in VARIANTS:
            samples = runs[case][name]
            rows.append({"case": case, "variant": name, "rounds": len(samples),
                         **{key: round(statistics.median(s[key] for s in samples), 3 if key != "rss_mib" else 0)
                            for key in ("constructor_s", "first_question_s", "question_s", "rss_mib")}})
    settings = " ".join(f"`{k}={v}`" for k, v in MALLOC_ENV.items())
    lines = [
        "# A replica's questions: glibc's default malloc against REPLICA_ENV's settings",
        "",
        f"Measured by `python -m bench.malloc_bench` on {time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores (load"
        f" average {started_load:.1f} at the start, {os.getloadavg()[0]:.1f} at the end). Each run: a fresh process"
        " building the served pipeline as a 1-CPU `Pipeline` replica does (one torch thread, int8 reader of roberta-base"
        " shape, random weights, the shipped Wikipedia passages from a store snapshot), then the first question and 8"
        f" more. REPLICA_ENV's settings: {settings}. Medians over the rounds; the variants alternate within a round.",
        "",
        "| case | malloc | rounds | constructor (s) | first question (s) | question, mean of 8 (s) | memory after (MiB) |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
        *[f"| {r['case']} | {r['variant']} | {r['rounds']} | {r['constructor_s']} | {r['first_question_s']} "
          f"| {r['question_s']} | {r['rss_mib']:.0f} |" for r in rows],
    ]
    print("\n".join(lines))
    (RESULTS / "malloc.md").write_text("\n".join(lines) + "\n")
    (RESULTS / "malloc.json").write_text(json.dumps({"settings": MALLOC_ENV, "rows": rows, "runs": runs}, indent=2) + "\n")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--measure":
        measure(sys.argv[2])
    elif len(sys.argv) == 3 and sys.argv[1] == "--neighbour":
        neighbour(sys.argv[2])
    else:
        main()
