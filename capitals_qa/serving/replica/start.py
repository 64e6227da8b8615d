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
    replica: out of reach of the garbage collector's full passes, which otherwise walk every object of torch,
    transformers and Haystack again whenever one runs (docs/performance.md, "A new replica in seconds").
    Garbage the block left (reference cycles) is collected before freezing, so that nothing dead is kept."""
    gc.freeze()
    try:
        yield
    finally:
        gc.collect()
        gc.freeze()

