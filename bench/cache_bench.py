"""The answer cache under repeated and under all-distinct questions, on and off, in one run.

    .venv/bin/python -m bench.cache_bench                     # both sizes: about 15 minutes on 2 cores
    .venv/bin/python -m bench.cache_bench --sizes minilm --duration 20 --output cache-quick

Each variant is `serve run serve_config.yaml` (bench/variants.py: int8 reader on CPU) over the shipped passages,
with the answer cache as configured (on) or ANSWER_CACHE_MAX_ENTRIES=0 (off). 16 closed-loop clients ask `/query`
for `--duration` seconds after a short warm-up, from one of two workloads:

- repeated: a Zipf(s=1.1) draw over the 60 questions of bench/questions.jsonl, each with and without a Reader
  `top_k` of 1 (two keys a question), each asked in one of three forms the cache takes as the same question (as is,
  in surrounding white space, in Unicode NFD);
- distinct: every question asked once (the 60 questions, each with a number of its own).

Reported: answers/s, p50/p99 of every answer and of hits alone (HTTP included), the hit rate (`X-Cache`), what a
hit costs when one client asks alone (before the load) beside Serve's own floor (bench/serve_floor.py: a deployment
that answers a fixed body), and, in this process, the memory 10,000 entries of a real answer take. Writes bench/results/<output>.md and .json.
"""
import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

import argparse  # noqa: E402
import asyncio  # noqa: E402
import itertools  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import shlex  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402
import unicodedata  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Dict, Iterator, List, Optional  # noqa: E402

if not __package__:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp  # noqa: E402

from bench.loadgen import percentile  # noqa: E402
from bench.serve_bench import LOGS_DIR, RESULTS_DIR, choose_documents, ensure_model, machine, make_questions, progress, service_env  # noqa: E402
from bench.variants import PROJECT_DIR, SERVED, URL, Served, serving  # noqa: E402
from capitals_qa.serving.defaults import RAY_ENV  # noqa: E402

CLIENTS = 16
ZIPF_S = 1.1
WARMUP_S = 5
# Serve's own floor: a deployment answering a fixed body.
SERVE_FLOOR = Served("serve-floor", ["bench.serve_floor:app"], ready="answer")


def repeated(questions: List[str], seed: int) -> Iterator[dict]:
    keys = [(question, params) for question in questions for params in (None, {"Reader": {"top_k": 1}})]
    random.Random(0).shuffle(keys)  # which keys are the frequent ones: the same in every variant
    weights = [1 / rank**ZIPF_S for rank in range(1, len(keys) + 1)]
    draw = random.Random(seed)
    while True:
        question, params = draw.choices(keys, weights)[0]
        form = draw.choice([question, f"  {question}\n", unicodedata.normalize("NFD", question)])
        yield {"query": form, "params": params}


def distinct(questions: List[str], seed: int) -> Iterator[dict]:
    for number in itertools.count():
        yield {"query": f"{questions[number % len(questions)]} ({seed}-{number})", "params": None}


WORKLOADS = {"repeated": repeated, "distinct": distinct}


async def load(questions: List[str], workload: str, duration_s: float) -> Dict:
    latencies, hits, errors = [], [], {}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as session:

        async def client(seed: int, until: float, measured: bool) -> None:
            for body in WORKLOADS[workload](questions, seed):
                if time.perf_counter() > until:
                    return
                started = time.perf_counter()
                async with session.post(f"{URL}/query", json=body) as response:
                    await response.read()
                    status, cached = response.status, response.headers.get("x-cache")
                took_ms = (time.perf_counter() - started) * 1000
                if not measured or time.perf_counter() > until:
                    continue
                if status == 200:
                    latencies.append(took_ms)
                    if cached == "hit":
                        hits.append(took_ms)
                else:
                    errors[f"HTTP {status}"] = errors.get(f"HTTP {status}", 0) + 1
                    await asyncio.sleep(1)

        await asyncio.gather(*(client(seed, time.perf_counter() + WARMUP_S, False) for seed in range(CLIENTS)))
        await asyncio.gather(*(client(100 + seed, time.perf_counter() + duration_s, True) for seed in range(CLIENTS)))
    return {"qps": len(latencies) / duration_s, "answers": len(latencies), "p50_ms": percentile(latencies, 50),
            "p99_ms": percentile(latencies, 99), "hit_rate": len(hits) / len(latencies) if latencies else 0.0,
            "hit_p50_ms": percentile(hits, 50), "hit_p99_ms": percentile(hits, 99), "errors": errors}


async def alone(question: str, asks: int = 300, hits_only: bool = True) -> Dict:
    """What a hit costs on an otherwise idle service: one client asks one kept question again and again (for the
    Serve floor, every answer counts)."""
    latencies = []
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as session:
        for _ in range(asks + 20):  # the first 20 warm the connection and the cache
            started = time.perf_counter()
            async with session.post(f"{URL}/query", json={"query": question}) as response:
                await response.read()
                counted = response.status == 200 and (not hits_only or response.headers.get("x-cache") == "hit")
            if counted:
                latencies.append((time.perf_counter() - started) * 1000)
    latencies = latencies[-asks:]
    return {"asks": len(latencies), "p50_ms": percentile(latencies, 50), "p99_ms": percentile(latencies, 99)}


def memory_per_10k_entries(body: dict) -> Dict:
    """10,000 entries of one real answer under different keys, in an AnswerCache of this process."""
    from capitals_qa.api.answer_cache import AnswerCache, question_key

    async def fill() -> AnswerCache:
        cache = AnswerCache(max_entries=10_000, max_bytes=1 << 40, ttl_s=3600)
        for number in range(10_000):
            async def compute() -> dict:
                return json.loads(json.dumps(body))
            await cache.answer(question_key(f"{body['query']} {number}", None), lambda: asyncio.sleep(0, None), compute)
        return cache

    tracemalloc.start()
    cache = asyncio.run(fill())
    allocated = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return {"entries": cache.describe()["entries"], "json_mib": round(cache.describe()["bytes"] / 2**20, 1),
            "allocated_mib": round(allocated / 2**20, 1), "body_bytes": len(json.dumps(body))}


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="minilm,base", type=lambda text: text.split(","))
    parser.add_argument("--duration", type=float, default=40, help="seconds measured per variant and workload (default 40)")
    parser.add_argument("--output", default="cache")
    args = parser.parse_args(argv)
    command = shlex.join([os.path.relpath(sys.executable, PROJECT_DIR), "-m", "bench.cache_bench", *(sys.argv[1:] if argv is None else argv)])
    LOGS_DIR.mkdir(parents=True, exist_ok=True)
    documents, _ = choose_documents(None)
    questions = make_questions()
    results: Dict = {"command": command, "machine": machine(), "duration_s": args.duration, "runs": []}
    sample_body = None
    for size in args.sizes:
        model = ensure_model(size)
        for cache in ("on", "off"):
            env = {**service_env(documents, model=model), **RAY_ENV}
            if cache == "on":
                env.pop("ANSWER_CACHE_MAX_ENTRIES")  # serve_config.yaml's cache, as it ships
            log = LOGS_DIR / f"{args.output}-{size}-{cache}.log"
            with serving(SERVED["ours-serve-config"], env, log, questions[0], 600, False):
                import requests

                sample_body = requests.post(f"{URL}/query", json={"query": questions[0]}, timeout=120).json()
                if cache == "on":
                    hits = results.setdefault("hits_alone", {})[size] = asyncio.run(alone(questions[0]))
                    progress(f"{size} hits alone: p50 {hits['p50_ms']} ms, p99 {hits['p99_ms']} ms")
                for workload in WORKLOADS:
                    run = asyncio.run(load(questions, workload, args.duration))
                    run.update(size=size, cache=cache, workload=workload)
                    results["runs"].append(run)
                    progress(f"{size} cache {cache} {workload}: {run['qps']:.2f} answers/s, p50 {run['p50_ms']} ms, hit rate {run['hit_rate']:.2f}")
    with serving(SERVE_FLOOR, {**service_env(documents), **RAY_ENV}, LOGS_DIR / f"{args.output}-serve-floor.log", questions[0], 300, False):
        results["serve_floor"] = asyncio.run(alone(questions[0], hits_only=False))
    results["memory"] = memory_per_10k_entries(sample_body)
    results["machine"]["load_average_end"] = os.getloadavg()
    (RESULTS_DIR / f"{args.output}.json").write_text(json.dumps(results, indent=1))
    markdown = report(results)
    (RESULTS_DIR / f"{args.output}.md").write_text(markdown)
    print("\n" + markdown)


def report(results: Dict) -> str:
    m = results["machine"]
    ms = lambda value: "" if value is None else f"{value:.0f}" if value >= 10 else f"{value:.1f}"  # noqa: E731
    lines = [
        "# The answer cache: repeated and all-distinct questions, on and off",
        "",
        f"`{results['command']}`, {m['date']}; {m['cores']} cores; load average {', '.join(f'{x:.1f}' for x in m['load_average_start'])} "
        f"at the start, {', '.join(f'{x:.1f}' for x in m['load_average_end'])} at the end. `serve run serve_config.yaml` (int8 reader), "
        f"{CLIENTS} closed-loop clients on `/query`, {results['duration_s']:.0f} s measured after {WARMUP_S} s of warm-up.",
        "",
        "| size | workload | cache | answers/s | p50 ms | p99 ms | hit rate | hit p50 ms | hit p99 ms | errors |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for run in results["runs"]:
        lines.append(f"| {run['size']} | {run['workload']} | {run['cache']} | {run['qps']:.2f} | {ms(run['p50_ms'])} | {ms(run['p99_ms'])} | "
                     f"{run['hit_rate']:.2f} | {ms(run['hit_p50_ms'])} | {ms(run['hit_p99_ms'])} | {run['errors'] or ''} |")
    lines += ["", "Ratios, cache on against off in the same run:", ""]
    by = {(run["size"], run["workload"], run["cache"]): run for run in results["runs"]}
    for size, workload in sorted({(run["size"], run["workload"]) for run in results["runs"]}):
        on, off = by.get((size, workload, "on")), by.get((size, workload, "off"))
        if on and off and off["qps"]:
            lines.append(f"- {size}, {workload}: **{on['qps'] / off['qps']:.2f} x** the answers/s")
    for size, hits in results.get("hits_alone", {}).items():
        lines.append(f"- {size}, one client alone asking a kept question {hits['asks']} times: hit p50 **{ms(hits['p50_ms'])} ms**, "
                     f"p99 {ms(hits['p99_ms'])} ms (HTTP included)")
    if "serve_floor" in results:
        floor = results["serve_floor"]
        lines.append(f"- Serve's floor on this machine, one client alone: a deployment answering a fixed body "
                     f"(bench/serve_floor.py) p50 **{ms(floor['p50_ms'])} ms**, p99 {ms(floor['p99_ms'])} ms")
    memory = results["memory"]
    lines += ["", f"Memory of {memory['entries']:,} entries of one real answer ({memory['body_bytes']:,} bytes of JSON: 5 passages), "
              f"in one process: {memory['json_mib']} MiB of JSON kept, {memory['allocated_mib']} MiB allocated in all (tracemalloc)."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
