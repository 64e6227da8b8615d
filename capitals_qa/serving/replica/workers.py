"""Where pipeline work runs in a replica: worker threads that share the replica's CPUs between questions.

A lone question gets every CPU the replica has as torch threads; questions running at the same time get an
equal share each, one at least, since one model call does not keep several cores busy (docs/performance.md).

Questions wait for a worker in a queue on the replica's event loop, not in the thread pool's own queue, so
that the queue can be bounded by time: a question that would wait longer than `max_wait_s` is refused at once
(Overloaded, a 503 with Retry-After), and a waiting question whose caller is cancelled (its client went away,
or its time limit passed) leaves the queue and never runs.
"""
import asyncio
import contextvars
import math
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Deque, Dict, Optional, Tuple

import torch

from capitals_qa import tracing
from capitals_qa.api.errors import Overloaded


@dataclass(frozen=True)
class QueueLimits:
    max_waiting: int  # questions waiting for a worker, at most
    max_wait_s: float  # how long a question may wait for a worker


class RunTime:
    """A moving average of how long one piece of work holds a worker, to predict how long a newcomer would wait."""

    WEIGHT = 0.2  # of the newest sample: follows a change of load within a few questions

    def __init__(self) -> None:
        self.mean_s: Optional[float] = None

    def add(self, seconds: float) -> None:
        self.mean_s = seconds if self.mean_s is None else (1 - self.WEIGHT) * self.mean_s + self.WEIGHT * seconds


class TorchWorkers:
    def __init__(self, cpus: int, limits: Optional[QueueLimits] = None):
        self.cpus = cpus
        # The thread building the replica (its constructor loads and quantizes the model) gets as many torch
        # threads as the replica has CPUs. torch takes OMP_NUM_THREADS when it is imported, and a worker that Ray
        # started with preloaded modules imported it before Ray set that, so torch would use every core of the
        # machine there (seen: 2 threads in a 1-CPU replica on 2 cores).
        torch.set_num_threads(cpus)
        self.limits = limits
        self._pool = ThreadPoolExecutor(max_workers=cpus, thread_name_prefix="pipeline")
        self._waiting: Deque[Tuple[asyncio.Future, bool]] = deque()  # (granted when a worker is free, exclusive)
        self._running = 0
        self._exclusive = False
        self._run_time = RunTime()
        # What a user can read in /health: how the queue has treated questions since the replica started.
        self.counts: Dict[str, int] = {"started": 0, "refused": 0, "left_queue": 0, "waited_too_long": 0}

    async def run(self, work: Callable[[], Any], exclusive: bool = False) -> Any:
        """`work()` on a worker thread. `exclusive` work runs alone: Haystack nodes keep a request's debug flag
        on the node object, so a debug run must not overlap another run."""
        loop = asyncio.get_running_loop()
        self._admit()
        queued_at = time.monotonic()
        await self._worker(exclusive)
        # The estimate that admitted it can be wrong (a burst of slow questions): never start one that has
        # waited past the budget, its client would get a late answer instead of a prompt retry elsewhere.
        waited_s = time.monotonic() - queued_at
        tracing.span_ended_now("queue wait", waited_s)
        if self.limits is not None and waited_s > self.limits.max_wait_s:
            self.counts["waited_too_long"] += 1
            self._release()
            raise Overloaded(f"the question waited {waited_s:.1f} s for a worker, over the limit of {self.limits.max_wait_s} s", self.retry_after_s())
        self.counts["started"] += 1
        threads = self.cpus if exclusive else max(1, self.cpus // self._running)
        started = time.monotonic()
        # In this coroutine's context: the spans the work records are children of the one current here.
        done = self._pool.submit(contextvars.copy_context().run, self._call, work, threads)
        # The worker is free when the thread is, even if this coroutine was cancelled meanwhile (a running
        # thread cannot be stopped): the next question never shares the CPUs with an abandoned one uncounted.
        done.add_done_callback(lambda _: loop.call_soon_threadsafe(self._finished, started))
        return await asyncio.wrap_future(done)

    def describe(self) -> Dict[str, Any]:
        return {"workers": self.cpus, "running": self._running, "waiting": len(self._waiting),
                "estimated_wait_s": round(self.estimated_wait_s(), 3), **self.counts}

    def estimated_wait_s(self) -> float:
        """How long a question arriving now would wait for a worker, from the recent time per question."""
        if self._running < self.cpus and not self._waiting and not self._exclusive:
            return 0.0
        return (len(self._waiting) + 1) * (self._run_time.mean_s or 0.0) / self.cpus

    def retry_after_s(self) -> int:
        """When the questions waiting now will have started: a client retrying then finds room."""
        return math.ceil(len(self._waiting) * (self._run_time.mean_s or 1.0) / self.cpus)

    def _admit(self) -> None:
        if self.limits is None:
            return
        if len(self._waiting) >= self.limits.max_waiting:
            self.counts["refused"] += 1
            raise Overloaded(f"overloaded: {len(self._waiting)} questions are waiting already, the limit", self.retry_after_s())
        wait_s = self.estimated_wait_s()
        if wait_s > self.limits.max_wait_s:
            self.counts["refused"] += 1
            raise Overloaded(f"overloaded: a question would wait about {wait_s:.1f} s, over the limit of {self.limits.max_wait_s} s",
                             self.retry_after_s())

    async def _worker(self, exclusive: bool) -> None:
        """Until a worker is this caller's; a cancelled caller leaves the queue (or hands back what it got)."""
        if not self._waiting and self._can_start(exclusive):
            self._take(exclusive)
            return
        granted = asyncio.get_running_loop().create_future()
        entry = (granted, exclusive)
        self._waiting.append(entry)
        try:
            await granted
        except asyncio.CancelledError:
            if granted.done() and not granted.cancelled():  # a worker was handed over just as it was cancelled
                self._release()
            else:
                if entry in self._waiting:
                    self._waiting.remove(entry)
                self.counts["left_queue"] += 1
                self._grant()  # an exclusive caller at the head may have held others back
            raise

    def _can_start(self, exclusive: bool) -> bool:
        if exclusive:
            return self._running == 0
        return not self._exclusive and self._running < self.cpus

    def _take(self, exclusive: bool) -> None:
        self._running += 1
        self._exclusive = exclusive

    def _release(self) -> None:
        self._running -= 1
        self._exclusive = False
        self._grant()

    def _grant(self) -> None:
        # First come, first served: an exclusive question at the head holds back those behind it.
        while self._waiting and self._can_start(self._waiting[0][1]):
            granted, exclusive = self._waiting.popleft()
            if granted.done():  # cancelled: its caller is leaving the queue
                continue
            self._take(exclusive)
            granted.set_result(None)

    def _finished(self, started: float) -> None:
        self._run_time.add(time.monotonic() - started)
        self._release()

    @staticmethod
    def _call(work: Callable[[], Any], threads: int) -> Any:
        # Per calling thread: torch's OpenMP thread count is a property of the thread that sets it.
        torch.set_num_threads(threads)
        return work()
