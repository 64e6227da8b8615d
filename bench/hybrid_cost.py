"""What the hybrid default costs a question end to end against BM25 alone, measured in pairs.

    .venv/bin/python -m bench.hybrid_cost [--size base] [--rounds 3]   # about 6 minutes on 2 cores at base size

Both pipelines are loaded in this process as a replica loads them (pipeline.yml, the hybrid default, and
pipelines/bm25.yml), each with a random-weight reader of the given size in int8, over the shipped passages. Every
question of bench/questions.jsonl is asked of both, one right after the other, the order alternating, so that the
machine's drift (this one is shared) falls on both alike; `--rounds` passes over the questions. Serving adds the
same to both (bench/results/latest.md), so the pipelines' difference is the hybrid's cost. Reports each
pipeline's p50 and mean, the ratio of the means, and the median of the per-question ratios. Writes
bench/results/hybrid-cost.md and .json.
"""
import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Dict, List

if not __package__:  # run as a file: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.serve_bench import RESULTS_DIR, ensure_model, load_for, machine, make_questions, service_env  # noqa: E402
from capitals_qa.settings import DEFAULT_DOCUMENTS, DEFAULT_PIPELINE_YAML, PROJECT_DIR  # noqa: E402

PIPELINES = {"bm25": PROJECT_DIR / "pipelines" / "bm25.yml", "hybrid": DEFAULT_PIPELINE_YAML}


def load(size: str) -> Dict[str, object]:
    from capitals_qa.pipeline.precision import pipeline_nodes, set_reader_precision

    loaded = {}
    for name, path in PIPELINES.items():
        pipeline = load_for(service_env(DEFAULT_DOCUMENTS, ensure_model(size), path))
        set_reader_precision(pipeline_nodes(pipeline), "int8", has_gpu=False)
        loaded[name] = pipeline
    return loaded


def measure(pipelines: Dict[str, object], questions: List[str], rounds: int) -> Dict[str, List[float]]:
    for pipeline in pipelines.values():  # warm-up: first calls allocate
        for question in questions[:3]:
            pipeline.run(query=question)
    seconds: Dict[str, List[float]] = {name: [] for name in pipelines}
    order = list(pipelines)
    for _ in range(rounds):
        for question in questions:
            for name in order:
                started = time.perf_counter()
                pipelines[name].run(query=question)
                seconds[name].append(time.perf_counter() - started)
            order.reverse()
    return seconds


def summary(seconds: Dict[str, List[float]]) -> Dict:
    bm25, hybrid = seconds["bm25"], seconds["hybrid"]
    return {
        name: {"p50_ms": statistics.median(values) * 1000, "mean_ms": statistics.fmean(values) * 1000, "questions": len(values)}
        for name, values in seconds.items()
    } | {
        "mean_ratio": statistics.fmean(hybrid) / statistics.fmean(bm25),
        "median_pair_ratio": statistics.median(h / b for h, b in zip(hybrid, bm25)),
    }


def markdown(report: Dict) -> str:
    m, s = report["machine"], report["summary"]
    lines = [
        "# The hybrid default's cost end to end, against BM25 alone",
        "",
        f"`{report['command']}`, {report['date']}, {report['minutes']:.1f} min. Machine: {m['cores']} cores ({m['cpu']}); "
        f"load average {m['load_average_start'][0]:.1f} at the start. Reader: {report['size']} size, random weights, int8; "
        f"{report['rounds']} rounds of the {report['questions']} questions, each asked of both pipelines in turn.",
        "",
        "| pipeline | questions | p50 ms | mean ms |",
        "| --- | ---: | ---: | ---: |",
    ]
    for name in PIPELINES:
        row = s[name]
        lines.append(f"| {name} ({PIPELINES[name].relative_to(PROJECT_DIR)}) | {row['questions']} | {row['p50_ms']:.0f} | {row['mean_ms']:.0f} |")
    verdict = "met" if s["mean_ratio"] <= 1.03 else "missed"
    lines += [
        "",
        f"Hybrid against BM25: {s['mean_ratio']:.3f} x the mean, {s['median_pair_ratio']:.3f} x per question (median of "
        f"the pairs). Target, at most 3% more: {verdict}.",
        "",
    ]
    return "\n".join(lines)


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="base", help="reader size: tiny, minilm or base")
    parser.add_argument("--rounds", type=int, default=3, help="passes over the questions")
    args = parser.parse_args(argv)
    started, at = time.monotonic(), machine()
    questions = make_questions()
    seconds = measure(load(args.size), questions, args.rounds)
    report = {
        "command": "python -m bench.hybrid_cost " + " ".join(argv),
        "date": at["date"],
        "minutes": (time.monotonic() - started) / 60,
        "machine": at,
        "size": args.size,
        "rounds": args.rounds,
        "questions": len(questions),
        "summary": summary(seconds),
        "seconds": seconds,
    }
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / "hybrid-cost.json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    text = markdown(report)
    (RESULTS_DIR / "hybrid-cost.md").write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
