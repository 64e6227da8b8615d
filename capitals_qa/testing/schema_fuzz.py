"""Schemathesis's own command line against the API as a user runs it: the app served over HTTP by uvicorn in a thread
of this process, `schemathesis run <url>/openapi.json` in a child process, every phase (examples, coverage, fuzzing,
stateful) on every route. The tests run a bounded version (tests/unit/test_fuzz.py), bench/fuzz_bench.py a long one.
"""
import json
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, List, Optional, Sequence

import uvicorn
from fastapi import FastAPI

PHASES = ("examples", "coverage", "fuzzing", "stateful")
# The checks that hold the service to its contract: no 5xx, the statuses, content types, headers and bodies its
# schema publishes, and no success for a request the schema rules out. schemathesis's `positive_data_acceptance` is
# left out: `params` name the pipeline's own nodes and Haystack's filter syntax, which a schema of this API states
# only in part, so some requests it allows get a 400 that names the node or filter (docs/api.md, "Bounds").
CHECKS = ("not_a_server_error", "status_code_conformance", "content_type_conformance", "response_headers_conformance",
          "response_schema_conformance", "negative_data_rejection")


def fuzzed_app(reader: Path, folder: Path) -> FastAPI:
    """The single mode's API over pipeline.yml without Ray (what a Pipeline replica runs), the small local reader on
    one torch thread, over three one-line documents: a question still reaches Haystack's filters and the Reader."""
    from capitals_qa.api.app import create_api
    from capitals_qa.api.backend import BodyLimits, Served
    from capitals_qa.serving.replica.local_pipeline import LocalPipeline
    from capitals_qa.serving.replica.workers import TorchWorkers
    from capitals_qa.settings import DEFAULT_PIPELINE_YAML, ServiceSettings
    from capitals_qa.testing.models import local_model_overrides

    documents = folder / "documents.jsonl"
    documents.write_text("".join(json.dumps({"content": f"{city} is the capital of {country}.", "meta": {"name": country}}) + "\n"
                                 for city, country in [("Rome", "Italy"), ("Tirana", "Albania"), ("Canberra", "Australia")]))
    settings = ServiceSettings(pipeline=str(DEFAULT_PIPELINE_YAML), documents=str(documents), store_cache="", write_log="",
                               feedback_db="", node_overrides=local_model_overrides(reader))
    served = Served(LocalPipeline(settings, TorchWorkers(1), has_gpu=False), BodyLimits(max_question_bytes=4096, max_query_bytes=65536))
    return create_api(lambda: served)


@dataclass
class FuzzRun:
    returncode: int
    output: str
    seconds: float

    @property
    def passed(self) -> bool:
        return self.returncode == 0


@contextmanager
def served_over_http(app) -> Iterator[str]:
    """`app` on a free loopback port, by uvicorn in a daemon thread; yields its base URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def run_schemathesis(url: str, max_examples: int, seed: int = 1, max_time_s: Optional[int] = None,
                     checks: Sequence[str] = CHECKS, phases: Sequence[str] = PHASES, extra: List[str] = (), report: Optional[Path] = None,
                     timeout_s: float = 3600) -> FuzzRun:
    """`schemathesis run` over `url`'s /openapi.json, one worker, a fixed seed (a failure reproduces)."""
    command = [str(Path(sys.executable).parent / "schemathesis"), "run", f"{url}/openapi.json", "--phases", ",".join(phases),
               "--checks", ",".join(checks), "--max-examples", str(max_examples), "--seed", str(seed), "--workers", "1",
               "--no-color", "--continue-on-failure", "--generation-database", "none", "--request-timeout", "60", *extra]
    if max_time_s:
        command += ["--max-time", str(max_time_s)]
    if report:
        command += ["--report", "ndjson", "--report-ndjson-path", str(report)]
    started = time.monotonic()
    run = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s)
    return FuzzRun(run.returncode, run.stdout + run.stderr, time.monotonic() - started)
