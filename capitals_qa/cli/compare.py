"""capitals-compare: the same questions through the pipeline in two reader precisions, answers and latency side by side.

Run it with your own model (READER_PARAMS_MODEL_NAME_OR_PATH) and questions before switching a service from fp32 to
int8: it shows where the answers differ and how much faster the other precision is on this machine.
"""
import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import List, Optional

# Only light imports here: `--help` must answer at once. Haystack and torch load in main() after the arguments.
from capitals_qa.pipeline.precision import PRECISIONS
from capitals_qa.settings import DEFAULT_DOCUMENTS, DEFAULT_PIPELINE_YAML, node_overrides


def parse_args(argv: Optional[List[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="capitals-compare",
        description="Answer the same questions with the pipeline in two reader precisions; print each question's best "
        "answer in both, whether they agree and the latency of each, then the agreement rate and the speed ratio.",
    )
    parser.add_argument("--questions", required=True, type=Path,
                        help="a text file with one question a line (blank and #-lines skipped), or a .jsonl file of "
                        "{\"question\": ...} records")
    parser.add_argument("--a", default="fp32", choices=PRECISIONS, help="the first precision, the baseline (default: fp32)")
    parser.add_argument("--b", default="int8", choices=PRECISIONS, help="the precision to compare with it (default: int8)")
    parser.add_argument("--pipeline", default=str(DEFAULT_PIPELINE_YAML), help="pipeline YAML (default: pipeline.yml)")
    parser.add_argument("--pipeline-name", default="query", help="the pipeline in it that answers (default: query)")
    parser.add_argument("--documents", default=str(DEFAULT_DOCUMENTS),
                        help="what fills an empty store, as DOCUMENTS_PATH for the service; '' for none")
    return parser.parse_args(argv)


def read_questions(path: Path) -> List[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    if path.suffix == ".jsonl":
        return [json.loads(line)["question"] for line in lines if line.strip()]
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    try:
        questions = read_questions(args.questions)
    except (OSError, UnicodeDecodeError, ValueError, KeyError) as error:
        return fail(f"cannot read questions from {args.questions}: {error}")
    if not questions:
        return fail(f"{args.questions} holds no questions")

    import torch

    from capitals_qa.pipeline.precision import PrecisionError, pipeline_nodes, set_reader_precision
    from capitals_qa.pipeline.yaml_pipelines import StartupError, load_served_pipelines

    has_gpu = torch.cuda.is_available()
    pipelines = {}
    try:
        for side in ("a", "b"):
            _, pipeline = load_served_pipelines(args.pipeline, args.pipeline_name, args.documents or None, node_overrides(os.environ))
            applied = set_reader_precision(pipeline_nodes(pipeline), getattr(args, side), has_gpu)
            if not applied:
                return fail(f"{args.pipeline} has no FARMReader in pipeline {args.pipeline_name!r}: nothing to compare")
            pipelines[side] = (next(iter(applied.values())), pipeline)
    except (StartupError, PrecisionError) as error:
        return fail(str(error))
    (name_a, a), (name_b, b) = pipelines["a"], pipelines["b"]
    if name_a == name_b:  # auto may resolve to the other side's precision: tell them apart in the output
        name_a, name_b = f"a:{name_a}", f"b:{name_b}"

    for pipeline in (a, b):  # the first run of a model pays one-off costs: keep them out of the latencies
        pipeline.run(query=questions[0])
    agreed, latencies = 0, {"a": [], "b": []}
    width = max(len(name_a), len(name_b))
    for number, question in enumerate(questions, 1):
        answer_a, ms_a = timed_best_answer(a, question)
        answer_b, ms_b = timed_best_answer(b, question)
        latencies["a"].append(ms_a)
        latencies["b"].append(ms_b)
        same = answer_a == answer_b
        agreed += same
        print(f"[{number}] {question}")
        print(f"    {name_a:<{width}}  {ms_a:8.0f} ms  {answer_a!r}")
        print(f"    {name_b:<{width}}  {ms_b:8.0f} ms  {answer_b!r}  {'same' if same else 'DIFFERENT'}")
    p50_a, p50_b = statistics.median(latencies["a"]), statistics.median(latencies["b"])
    print(f"agreement {agreed}/{len(questions)} ({100 * agreed / len(questions):.0f}%); p50 {name_a} {p50_a:.0f} ms, "
          f"{name_b} {p50_b:.0f} ms; speed ratio {name_b} vs {name_a}: {p50_a / p50_b:.2f}x")
    return 0


def timed_best_answer(pipeline, question: str):
    """The best answer's text ('' when the reader finds none) and the run's milliseconds."""
    start = time.perf_counter()
    answers = pipeline.run(query=question)["answers"]
    elapsed_ms = (time.perf_counter() - start) * 1000
    return (answers[0].answer if answers else "") or "", elapsed_ms


def fail(message: str) -> int:
    print(f"capitals-compare: error: {message}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
