"""The lean profile's Ray (docs/operations.md), started from Python for the tests and benchmarks: `ray start --head
--block` with the lean profile's options (serving/ray_internals.RAY_START_LEAN), each of its ports a free one (other
Rays may run beside it), stopped as Ctrl-C stops it."""
import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator

from capitals_qa.serving.ray_internals import RAY_START_LEAN
from capitals_qa.testing.interrupt import ctrl_c_as_in_a_terminal

PORT_OPTIONS = ("--port", "--metrics-export-port", "--dashboard-port", "--dashboard-agent-listen-port", "--dashboard-agent-grpc-port",
                "--runtime-env-agent-port", "--ray-client-server-port")


@dataclass(frozen=True)
class LeanRay:
    address: str  # the GCS address, for `serve run --address`
    metrics_url: str  # Prometheus text of Ray's metrics and ours
    process: subprocess.Popen  # `ray start --block`: every process of the cluster is its descendant


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def lean_ray(env: Dict[str, str], log: Path, num_cpus: int = 2, timeout_s: float = 120) -> Iterator[LeanRay]:
    ports = {option: free_port() for option in PORT_OPTIONS}
    command = [str(Path(sys.executable).parent / "ray"), "start", "--head", "--block", *RAY_START_LEAN, f"--num-cpus={num_cpus}",
               *(f"{option}={port}" for option, port in ports.items())]
    process = subprocess.Popen(command, env=env, stdout=open(log, "w"), stderr=subprocess.STDOUT, start_new_session=True,
                               preexec_fn=ctrl_c_as_in_a_terminal)
    try:
        deadline = time.monotonic() + timeout_s
        while "Ray runtime started" not in log.read_text(errors="replace"):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"ray start did not start: {log.read_text(errors='replace')[-2000:]}")
            time.sleep(0.5)
        yield LeanRay(f"127.0.0.1:{ports['--port']}", f"http://127.0.0.1:{ports['--metrics-export-port']}/metrics", process)
    finally:
        os.killpg(process.pid, signal.SIGINT)  # `ray start --block` stops the cluster it started on Ctrl-C
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
