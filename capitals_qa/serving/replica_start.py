"""A replica's start, phase by phase, logged once when it has answered its first question.

Where a new replica's seconds go (its worker process, imports, constructor, Serve's checks, first answer) is
not visible from outside it: the replica log line `replica start: {...}` holds the wall-clock times (epoch
seconds), which bench/replica_start.py reads back.
"""
import gc
import json
import logging
import os
import time
from contextlib import contextmanager
from typing import Dict, Iterator

import psutil
import ray

logger = logging.getLogger("ray.serve")


def process_started() -> float:
    """When this process was created: to 10 ms on Linux, where psutil's create_time can be a second off."""
    try:
        with open("/proc/self/stat") as stat, open("/proc/uptime") as uptime:
            ticks = int(stat.read().rsplit(")", 1)[1].split()[19])
            return time.time() - float(uptime.read().split()[0]) + ticks / os.sysconf("SC_CLK_TCK")
    except OSError:
        return psutil.Process().create_time()


class StartPhases:
    def __init__(self) -> None:
        self.times: Dict[str, float] = {"process": process_started(), "constructor": time.time()}
        self.logged = False

    def mark(self, phase: str) -> None:
        """The first time `phase` happens; later ones are not start-up."""
        self.times.setdefault(phase, time.time())

    def answered(self) -> bool:
        """Logs the phases at the first answer; returns whether this was it."""
        if self.logged:
            return False
        self.mark("first_answer")
        self.logged = True
        start = self.times["process"]
        logger.info("replica start: %s (seconds after the process: %s)", json.dumps(self.times),
                    {phase: round(at - start, 2) for phase, at in self.times.items()})
        return True


@contextmanager
def kept_for_life() -> Iterator[None]:
    """What exists before the block and what the block builds (imports, model, store) lives as long as the
    replica: out of reach of the garbage collector's full passes.

    A full pass walks every object Python tracks: about 530k in a replica once torch, transformers and Haystack
    are imported, 0.25 s on this machine, paid again whenever one runs, during the constructor or a question.
    Frozen objects are skipped. Garbage the block left (reference cycles) is collected before freezing, so that
    nothing dead is kept.
    """
    gc.freeze()
    try:
        yield
    finally:
        gc.collect()
        gc.freeze()


@ray.remote(num_cpus=0)
def _spare() -> None:
    """Nothing: the worker Ray starts for it has imported the serving code before it runs anything."""


def leave_warm_worker() -> bool:
    """Have Ray start an idle worker, with the serving code imported, for the next replica to start in.

    A new replica's worker process otherwise spends most of its start importing torch, transformers and
    Haystack. Where Ray was started with RAY_preload_python_modules=capitals_qa.serving.pipeline, every worker
    it starts imports them before taking work; Ray then starts an actor in an idle worker of its job and
    runtime_env (this task inherits both from the replica), and keeps idle workers up to
    RAY_num_workers_soft_limit (default: the node's CPUs, beyond which it kills them after a second).
    Without both, a spare would be wasted work, so none is asked for. Returns whether one was.
    """
    if "capitals_qa" in os.environ.get("RAY_preload_python_modules", "") and os.environ.get("RAY_num_workers_soft_limit"):
        _spare.remote()
        return True
    return False
