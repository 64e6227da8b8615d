"""Schemathesis's own command line against the API as a user runs it: the app served over HTTP by uvicorn in a thread
of this process, `schemathesis run <url>/openapi.json` in a child process, every phase (examples, coverage, fuzzing,
stateful) on every route. The tests run a bounded version (tests/unit/test_fuzz.py), bench/fuzz_bench.py a long one.
"""
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

PHASES = ("examples", "coverage", "fuzzing", "stateful")
# The checks that hold the service to its contract: no 5xx, the statuses, content types, headers and bodies its
# schema publishes, and no success for a request the schema rules out. schemathesis's `positive_data_acceptance` is
# left out: `params` name the pipeline's own nodes and Haystack's filter syntax, which a schema of this API states
# only in part, so some requests it allows get a 400 that names the node or filter (docs/api.md, "Bounds").
CHECKS = ("not_a_server_error", "status_code_conformance", "content_type_conformance", "response_headers_conformance",
          "response_schema_conformance", "negative_data_rejection")


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
