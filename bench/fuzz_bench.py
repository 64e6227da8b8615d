"""Schemathesis's four phases (examples, coverage, fuzzing, stateful) on every route, long: the version of the test in
tests/unit/test_fuzz.py that runs for minutes instead of seconds.

    .venv/bin/python -m bench.fuzz_bench                          # --max-examples 200: about a minute on 2 cores
    .venv/bin/python -m bench.fuzz_bench --max-examples 50 --output fuzz-quick

The API of the single mode over pipeline.yml without Ray (capitals_qa.testing.schema_fuzz.fuzzed_app), served by
uvicorn, against schemathesis's own command line with the checks the test uses. Writes bench/results/<output>.md
(schemathesis's summary, its failures if any) and var/<output>.ndjson (every case it sent, schemathesis's own report;
tens of MB, not committed).
"""
import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

import argparse  # noqa: E402
import datetime  # noqa: E402
import shlex  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

if not __package__:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from capitals_qa.testing.models import build_qa_model  # noqa: E402
from capitals_qa.testing.schema_fuzz import CHECKS, PHASES, fuzzed_app, run_schemathesis, served_over_http  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-examples", type=int, default=200, help="cases per route and phase (the test uses 8)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--output", default="fuzz", help="bench/results/<output>.md and .ndjson")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    started = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    report = RESULTS.parent.parent / "var" / f"{args.output}.ndjson"
    report.parent.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        app = fuzzed_app(build_qa_model(Path(scratch) / "tiny-qa"), Path(scratch))
        with served_over_http(app) as url:
            run = run_schemathesis(url, max_examples=args.max_examples, seed=args.seed, report=report)
    command = shlex.join(["python", "-m", "bench.fuzz_bench", *sys.argv[1:]])
    summary = run.output[run.output.find("Test Phases:"):] if "Test Phases:" in run.output else run.output[-4000:]
    failures = run.output[run.output.find("= FAILURES ="):run.output.find("= SUMMARY =")] if "= FAILURES =" in run.output else ""
    text = (f"# Schemathesis, every phase on every route\n\n`{command}`, {started}, {os.cpu_count()} cores; "
            f"{run.seconds:.0f} s; exit status {run.returncode} ({'no failures' if run.passed else 'failures below'}).\n"
            f"Phases {', '.join(PHASES)}; checks {', '.join(CHECKS)}; `--max-examples {args.max_examples} --seed {args.seed}`. "
            f"Every case sent: `var/{report.name}` (not committed).\n\n```\n{summary.strip()}\n```\n")
    if failures:
        text += f"\n```\n{failures.strip()}\n```\n"
    (RESULTS / f"{args.output}.md").write_text(text)
    print(text)
    sys.exit(0 if run.passed else 1)


if __name__ == "__main__":
    main()
