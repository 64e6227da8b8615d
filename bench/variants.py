"""Starting and stopping the served variants: each is one `serve run` subprocess with its own local Ray cluster."""
import os
import re
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterator, List, Optional

import psutil
import requests

from capitals_qa.serving.defaults import RAY_ENV

PROJECT_DIR = Path(__file__).resolve().parent.parent
BIN_DIR = Path(sys.executable).parent  # the venv's `serve` and `ray`
PORT = 8000  # serve_config.yaml's port, and `serve run`'s default
URL = f"http://127.0.0.1:{PORT}"
SHARED_CORPUS = PROJECT_DIR.parent / "shared" / "data" / "countries-and-capitals"


@dataclass(frozen=True)
class Served:
    name: str
    target: List[str]  # what follows `serve run`
    ready: str = "health"  # "health": GET /health answers 200; "answer": POST / answers 200 (the blog has no /health)
    env: Dict[str, str] = field(default_factory=dict)  # what this variant sets on top of the benchmark's environment
    precision: str = "fp32"  # the reader precision it runs (auto is int8 on a CPU replica)


SERVED: Dict[str, Served] = {
    served.name: served
    for served in [
        Served("blog", ["bench.blog_deployment:app"], ready="answer"),
        # The configuration this product grew from: the blog's deployment over the seed's passages of 1000 words
        # (the shared Wikipedia pages, split by the indexing pipeline), fp32.
        Served(
            "seed",
            ["bench.blog_deployment:app"],
            ready="answer",
            env={"DOCUMENTS_PATH": str(SHARED_CORPUS), "SPLITTER_PARAMS_SPLIT_LENGTH": "1000", "SPLITTER_PARAMS_SPLIT_OVERLAP": "0"},
        ),
        Served("ours-code-defaults", ["capitals:haystack_deployment"]),
        Served("ours-int8", ["capitals:haystack_deployment"], env={"READER_PRECISION": "int8"}, precision="int8"),
        # As docs/operations.md runs a config file: RAY_ENV exported (capitals.py sets it for the others).
        Served("ours-serve-config", ["serve_config.yaml"], env=RAY_ENV, precision="int8"),
        Served("ours-per-node", ["capitals:app", "mode=per_node", "batching=false"]),
        Served("ours-per-node-batched", ["capitals:app", "mode=per_node", "batching=true"]),
    ]
}


class Unavailable(Exception):
    """The variant never answered; the message says why (from `serve run`'s log when it can)."""


@contextmanager
def serving(
    served: Served, env: Dict[str, str], log_path: Path, probe_question: str, ready_timeout_s: float, ray_stop: bool
) -> Iterator[float]:
    """Run `serve run` for the variant until the block ends; yields how many seconds it took to answer."""
    if not wait_port_free(60):
        raise Unavailable(f"port {PORT} is in use by another process")
    # `--address local`: a fresh Ray cluster of our own, never one that another process on the machine started.
    command = [str(BIN_DIR / "serve"), "run", "--address", "local", *served.target]
    # A shell running us in the background ignores SIGINT, and children inherit that; a handler is reset to the
    # default on exec instead, so `serve run` gets Python's KeyboardInterrupt and can shut down cleanly.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    started = time.monotonic()
    with open(log_path, "w") as log:
        log.write(f"$ {' '.join(command)}\n")
        log.flush()
        process = subprocess.Popen(
            command,
            cwd=PROJECT_DIR,
            env={**env, "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_DIR), env.get("PYTHONPATH")]))},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, to kill what is left of it
        )
        try:
            wait_ready(process, served, log_path, probe_question, ready_timeout_s)
            yield time.monotonic() - started
        finally:
            stop(process, ray_stop)


def wait_ready(process: subprocess.Popen, served: Served, log_path: Path, question: str, timeout_s: float) -> None:
    """Until the route answers 200 and Serve reports every application RUNNING (all initial replicas up)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise Unavailable(f"serve run exited with code {process.returncode}: {last_error(log_path)}")
        statuses = application_statuses(log_path)
        failed = {name: app for name, app in (statuses or {}).items() if app.get("status") == "DEPLOY_FAILED"}
        if failed:
            name, app = next(iter(failed.items()))
            # The application's message only names the deployment; the deployment's has the replica's exception.
            messages = "\n".join([app.get("message", "")] + [d.get("message", "") for d in app.get("deployments", {}).values()])
            raise Unavailable(f"application {name} DEPLOY_FAILED: {error_line(messages)}")
        if answers(served, question) and (statuses is None or all(a.get("status") == "RUNNING" for a in statuses.values())):
            return
        time.sleep(1)
    raise Unavailable(f"not ready within {timeout_s:.0f} s: {last_error(log_path)}")


def answers(served: Served, question: str) -> bool:
    try:
        if served.ready == "health":
            return requests.get(f"{URL}/health", timeout=5).status_code == 200
        return requests.post(URL, data=question.encode("utf-8"), timeout=60).status_code == 200
    except requests.RequestException:
        return False


def application_statuses(log_path: Path) -> Optional[Dict[str, Dict]]:
    """Serve's applications as this cluster's dashboard reports them; None when that cannot be known.

    The dashboard's address is read from this variant's log, not assumed to be :8265, so that another Ray
    cluster on the machine is never asked.
    """
    match = re.search(r"dashboard at \S*?(http://[\w.]+:\d+)", log_path.read_text(errors="replace"))
    if not match:
        return None
    try:
        response = requests.get(f"{match.group(1)}/api/serve/applications/", timeout=5)
        if not response.ok:
            return None
        return response.json().get("applications") or None
    except (requests.RequestException, ValueError):
        return None


def replicas(log_path: Path) -> Optional[Dict[str, str]]:
    """Each deployment's running replicas and autoscaling target, as "running/target"; None when unknown."""
    statuses = application_statuses(log_path)
    if statuses is None:
        return None
    return {
        name: f"{sum(r.get('state') == 'RUNNING' for r in deployment.get('replicas', []))}/{deployment.get('target_num_replicas')}"
        for app in statuses.values()
        for name, deployment in app.get("deployments", {}).items()
    }


def last_error(log_path: Path) -> str:
    """The last line of the log that names an error, else its last line: the reason a variant is unavailable."""
    lines = [line.strip() for line in log_path.read_text(errors="replace").splitlines() if line.strip()]
    errors = [line for line in lines if re.search(r"Error|Exception|error:", line)]
    return _strip_ansi((errors or lines or ["(empty log)"])[-1])[:300]


def error_line(text: str) -> str:
    lines = [line for line in text.splitlines() if re.search(r"Error|Exception", line)] or text.splitlines() or [""]
    return _strip_ansi(lines[-1].strip())[:300]


def _strip_ansi(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def stop(process: subprocess.Popen, ray_stop: bool) -> None:
    """SIGINT lets `serve run` shut Serve and its Ray cluster down; whatever outlives it is killed by pid."""
    try:
        started = psutil.Process(process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        started = []
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    for child in started:
        try:
            child.kill()  # psutil refuses if the pid now belongs to another process
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(started, timeout=10)
    if ray_stop:
        # Kills every Ray process on the machine, other users' too: only on request (--ray-stop).
        subprocess.run([str(BIN_DIR / "ray"), "stop", "--force"], capture_output=True, timeout=120)
    wait_port_free(60)


def port_in_use() -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", PORT)) == 0


def wait_port_free(timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while port_in_use():
        if time.monotonic() > deadline:
            return False
        time.sleep(1)
    return True
