"""Sustained overload of serve_config.yaml: does goodput hold, and does everyone else get a prompt JSON 503?

    .venv/bin/python -m bench.overload_bench                      # about 5 minutes: 30 s closed loop, 180 s at 2.75 x
    .venv/bin/python -m bench.overload_bench --duration 40 --capacity-duration 15 --output overload-quick

One `serve run serve_config.yaml` (bench/variants.py) with the MiniLM-size random-weight reader and the same
documents as bench/serve_bench.py. First its closed-loop capacity: 8 clients asking back to back. Then an
open loop: questions sent at `--factor` x that capacity, on a fixed schedule whatever the answers do, for
`--duration` seconds. Reported per window: answers per second against the capacity, how the others were
answered (status, JSON or not, how fast), the replicas' memory and Serve's replica count. Writes
bench/results/<output>.md and .json.
"""
import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

import argparse  # noqa: E402
import asyncio  # noqa: E402
import itertools  # noqa: E402
import json  # noqa: E402
import shlex  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from dataclasses import asdict, dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Dict, List, Optional  # noqa: E402

if not __package__:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp  # noqa: E402
import psutil  # noqa: E402

from bench import loadgen  # noqa: E402
from bench.serve_bench import LOGS_DIR, RESULTS_DIR, choose_documents, ensure_model, machine, make_questions, progress, service_env  # noqa: E402
from bench.variants import PROJECT_DIR, SERVED, URL, replicas, serving  # noqa: E402
from capitals_qa.serving import ray_internals  # noqa: E402

REPLICA_PROCESS = "ServeReplica:capitals:HaystackQA"
# Ray's hook for middlewares around Serve's proxy (one of serving/defaults.RAY_ENV): empty, it installs none.
PROXY_HOOK = ray_internals.PROXY_CALLBACK
CLIENT_TIMEOUT_S = 90  # above the proxy's request_timeout_s (60): its 408s are counted, not our own give-ups


@dataclass
class Outcome:
    sent_s: float  # since the open loop began
    latency_ms: float
    status: str  # "200", "503", ..., or the client error's name
    json_body: bool
    retry_after: Optional[str]
    reason: Optional[str] = None  # the start of a JSON error's message


def main(argv: Optional[List[str]] = None) -> None:
    args = parse_args(argv)
    command = shlex.join([os.path.relpath(sys.executable, PROJECT_DIR), "-m", "bench.overload_bench", *(sys.argv[1:] if argv is None else argv)])
    LOGS_DIR.mkdir(parents=True, exist_ok=True)
    model = ensure_model("minilm")
    documents, why = choose_documents(args.documents)
    questions = make_questions()
    progress(f"{command}; documents {documents} ({why})")
    results: Dict = {"command": command, "machine": machine(), "documents": str(documents), "settings": vars(args)}
    log_path = LOGS_DIR / f"{args.output}.log"
    served = SERVED["ours-serve-config"]
    # proxy middleware off: Ray's proxy as it comes (its own errors in plain text).
    env = {**service_env(documents, model=model), **served.env, **({} if args.proxy_middleware == "on" else {PROXY_HOOK: ""})}
    with serving(served, env, log_path, questions[0], 300, False) as startup_s:
        progress(f"answering after {startup_s:.0f} s; closed loop, 8 clients, {args.capacity_duration:.0f} s")
        capacity = asyncio.run(closed_loop_capacity(questions, args.capacity_duration))
        results["closed_loop"] = capacity
        # A fixed --rate loads runs of different switches alike, whatever each one's capacity measured.
        rate = args.rate or args.factor * capacity["qps"]
        progress(f"capacity {capacity['qps']:.2f} answers/s (p50 {capacity['p50_ms']:.0f} ms); open loop at {rate:.2f}/s for {args.duration:.0f} s")
        samples: List[Dict] = []
        outcomes = asyncio.run(open_loop(questions, rate, args.duration, lambda: samples.append(sample(log_path))))
    results["open_loop"] = {"rate_per_s": rate, "outcomes": [asdict(o) for o in outcomes], "samples": samples}
    results["summary"] = summarize(outcomes, samples, capacity["qps"], args)
    results["machine"]["load_average_end"] = os.getloadavg()
    (RESULTS_DIR / f"{args.output}.json").write_text(json.dumps(results, indent=1))
    markdown = report(results, args)
    (RESULTS_DIR / f"{args.output}.md").write_text(markdown)
    print("\n" + markdown)


def parse_args(argv: Optional[List[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=180, help="seconds of open-loop load (default 180)")
    parser.add_argument("--capacity-duration", type=float, default=30, help="seconds of closed-loop load first (default 30)")
    parser.add_argument("--factor", type=float, default=2.75, help="open-loop rate as a multiple of the capacity (default 2.75)")
    parser.add_argument("--rate", type=float, help="open-loop questions/s, instead of --factor x the measured capacity")
    parser.add_argument("--window", type=float, default=10, help="seconds per reported window (default 10)")
    parser.add_argument("--documents", help="DOCUMENTS_PATH (default: as bench/serve_bench.py)")
    parser.add_argument("--proxy-middleware", choices=("on", "off"), default="on",
                        help="Serve's proxy with capitals_qa/serving/proxy.py (on, as docs/operations.md runs it) or as Ray ships it (off)")
    parser.add_argument("--output", default="overload", help="result files bench/results/<output>.md, .json")
    return parser.parse_args(argv)


async def closed_loop_capacity(questions: List[str], duration_s: float) -> Dict:
    """8 clients asking back to back; after a 503 a client waits as told (Retry-After, 1 s at most) before its next
    question, rather than hammering the service with requests it has just refused. A 503 means at least
    max_queue_wait_s of work is queued, so the pause never leaves a worker idle."""
    measurement = loadgen.Measurement(duration_s)
    next_question = itertools.cycle(questions)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=CLIENT_TIMEOUT_S)) as session:
        await asyncio.gather(*(loadgen.ask(session, URL, q) for q in questions[:4]))  # warm-up, both replicas
        deadline = time.perf_counter() + duration_s

        async def client() -> None:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                async with session.post(URL, data=next(next_question).encode(), headers={"content-type": "text/plain"}) as response:
                    await response.read()
                    status, retry_after = response.status, response.headers.get("retry-after")
                if time.perf_counter() > deadline:
                    return
                if status == 200:
                    measurement.latencies_ms.append((time.perf_counter() - started) * 1000)
                else:
                    measurement.add_error(f"HTTP {status}")
                    await asyncio.sleep(min(1.0, float(retry_after or 1)))

        await asyncio.gather(*(client() for _ in range(8)))
    return measurement.summary()


async def open_loop(questions: List[str], rate: float, duration_s: float, on_tick) -> List[Outcome]:
    """A question every 1/rate seconds, each on its own connection's task, none waiting for another."""
    outcomes: List[Outcome] = []
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=CLIENT_TIMEOUT_S), connector=connector) as session:
        began = time.perf_counter()

        async def one(question: str, sent_s: float) -> None:
            started = time.perf_counter()
            try:
                async with session.post(URL, data=question.encode(), headers={"content-type": "text/plain"}) as response:
                    body = await response.read()
                    status, retry_after, reason = str(response.status), response.headers.get("retry-after"), None
                    json_body = response.headers.get("content-type", "").startswith("application/json") and b'"errors"' in body
                    if json_body:
                        reason = " ".join(json.loads(body)["errors"][0].split()[:4])
            except (aiohttp.ClientError, asyncio.TimeoutError) as error:
                status, json_body, retry_after, reason = type(error).__name__, False, None, None
            outcomes.append(Outcome(sent_s, (time.perf_counter() - started) * 1000, status, json_body, retry_after, reason))

        tasks = []
        next_tick = 0.0
        for number, question in enumerate(itertools.cycle(questions)):
            due = number / rate
            if due >= duration_s:
                break
            now = time.perf_counter() - began
            if now >= next_tick:
                on_tick()
                next_tick += 5
            await asyncio.sleep(max(0.0, due - now))
            tasks.append(asyncio.ensure_future(one(question, due)))
        progress(f"sent {len(tasks)}; waiting for the last answers")
        await asyncio.gather(*tasks)
        on_tick()
    return outcomes


def sample(log_path: Path) -> Dict:
    """Replicas' resident memory (MiB, by pid) and Serve's running/target replica count, now."""
    memory = {}
    for process in psutil.process_iter(["pid", "cmdline", "memory_info"]):
        if any(REPLICA_PROCESS in part for part in (process.info["cmdline"] or [])):
            memory[process.info["pid"]] = round(process.info["memory_info"].rss / 2**20)
    return {"t": time.time(), "replica_rss_mib": memory, "replicas": replicas(log_path)}


def summarize(outcomes: List[Outcome], samples: List[Dict], capacity: float, args) -> Dict:
    answered = [o for o in outcomes if o.status == "200"]
    windows = []
    for start in range(0, int(args.duration), int(args.window)):
        # Answers counted in the window in which they arrived back.
        done = [o for o in answered if start <= o.sent_s + o.latency_ms / 1000 < start + args.window]
        windows.append({"start_s": start, "answers_per_s": len(done) / args.window, "ratio": len(done) / args.window / capacity,
                        "p99_ms": loadgen.percentile([o.latency_ms for o in done], 99)})
    by_status: Dict[str, List[Outcome]] = {}
    for o in outcomes:
        by_status.setdefault(o.status, []).append(o)
    statuses = {
        status: {"count": len(group), "json": sum(o.json_body for o in group), "with_retry_after": sum(o.retry_after is not None for o in group),
                 "p50_ms": loadgen.percentile([o.latency_ms for o in group], 50), "p99_ms": loadgen.percentile([o.latency_ms for o in group], 99),
                 "max_ms": max(o.latency_ms for o in group)}
        for status, group in sorted(by_status.items())
    }
    reasons: Dict[str, int] = {}
    for o in outcomes:
        if o.reason:
            reasons[f"{o.status} {o.reason}"] = reasons.get(f"{o.status} {o.reason}", 0) + 1
    first, last = samples[0]["replica_rss_mib"], samples[-1]["replica_rss_mib"]
    return {
        "sent": len(outcomes),
        "statuses": statuses,
        "error_reasons": reasons,
        "answered_p50_ms": loadgen.percentile([o.latency_ms for o in answered], 50),
        "answered_p99_ms": loadgen.percentile([o.latency_ms for o in answered], 99),
        "min_window_ratio": min(w["ratio"] for w in windows),
        "mean_ratio": len(answered) / args.duration / capacity,
        "windows": windows,
        "replica_rss_mib_first": first,
        "replica_rss_mib_last": last,
        "replica_rss_mib_max": max((m for s in samples for m in s["replica_rss_mib"].values()), default=None),
    }


def report(results: Dict, args) -> str:
    s = results["summary"]
    m = results["machine"]
    capacity = results["closed_loop"]
    lines = [
        "# Overload benchmark: serve_config.yaml under open-loop load",
        "",
        f"`{results['command']}` on {m['cores']} cores ({m['cpu']}), {m['date']}; load average at start "
        f"{', '.join(f'{x:.1f}' for x in m['load_average_start'])}, at end {', '.join(f'{x:.1f}' for x in m['load_average_end'])} "
        "(the machine is shared with other work: figures move with it).",
        f"MiniLM-size random-weight reader; documents `{os.path.relpath(results['documents'], PROJECT_DIR)}`.",
        "",
        f"- Closed-loop capacity (8 clients, {args.capacity_duration:.0f} s): **{capacity['qps']:.2f} answers/s**, p50 {capacity['p50_ms']:.0f} ms, "
        f"p99 {capacity['p99_ms']:.0f} ms, {capacity['errors']} errors.",
        f"- Open loop: {results['open_loop']['rate_per_s']:.2f} questions/s "
        f"({results['open_loop']['rate_per_s'] / results['closed_loop']['qps']:.2f} x capacity) for {args.duration:.0f} s: {s['sent']} sent.",
        f"- Answers/s over the whole run: **{s['mean_ratio']:.2f} x** capacity; lowest {args.window:.0f} s window: **{s['min_window_ratio']:.2f} x**.",
        f"- Answered questions: p50 {s['answered_p50_ms']:.0f} ms, **p99 {s['answered_p99_ms']:.0f} ms**.",
        f"- Replica memory (RSS MiB by pid) first {s['replica_rss_mib_first']}, last {s['replica_rss_mib_last']}, max {s['replica_rss_mib_max']}.",
        "",
        "| status | count | JSON `{\"errors\"}` | Retry-After | p50 ms | p99 ms | max ms |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for status, row in s["statuses"].items():
        lines.append(f"| {status} | {row['count']} | {row['json']} | {row['with_retry_after']} | {row['p50_ms']:.0f} | {row['p99_ms']:.0f} | {row['max_ms']:.0f} |")
    lines += ["", "JSON errors by the start of their message: " + ", ".join(f"`{k}...` {v}" for k, v in s["error_reasons"].items()) + "."]
    lines += ["", "| window (s) | answers/s | x capacity | p99 of its answers (ms) | replicas running/target |", "| --- | ---: | ---: | ---: | --- |"]
    samples = results["open_loop"]["samples"]
    began = samples[0]["t"] if samples else 0
    for w in s["windows"]:
        at = [x["replicas"] for x in samples if w["start_s"] <= x["t"] - began < w["start_s"] + args.window and x["replicas"]]
        p99 = f"{w['p99_ms']:.0f}" if w["p99_ms"] is not None else "-"
        lines.append(f"| {w['start_s']}-{w['start_s'] + args.window:.0f} | {w['answers_per_s']:.2f} | {w['ratio']:.2f} | {p99} | {at[0] if at else '-'} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
