"""Where pipeline work runs in a replica: worker threads that share the replica's CPUs between questions.

A lone question gets every CPU the replica has as torch threads; questions running at the same time get an
equal share each, one at least. Measured here with the MiniLM-size reader on 2 cores: 2.8 questions/s one
after another with 2 threads, 3.6 questions/s two at a time with one thread each, because one model call
does not keep two cores fully busy.
"""
import asyncio
import functools
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

import torch


class TorchWorkers:
    def __init__(self, cpus: int):
        self.cpus = cpus
        self._pool = ThreadPoolExecutor(max_workers=cpus, thread_name_prefix="pipeline")
        self._state = threading.Condition()
        self._running = 0
        self._exclusive = False

    async def run(self, work: Callable[[], Any], exclusive: bool = False) -> Any:
        """`work()` on a worker thread. `exclusive` work runs alone: Haystack nodes keep a request's debug flag
        on the node object, so a debug run must not overlap another run."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, functools.partial(self._call, work, exclusive))

    def _call(self, work: Callable[[], Any], exclusive: bool) -> Any:
        with self._state:
            self._state.wait_for(lambda: not self._exclusive and not (exclusive and self._running))
            self._running += 1
            self._exclusive = exclusive
            threads = max(1, self.cpus // self._running)
        # Per calling thread: torch's OpenMP thread count is a property of the thread that sets it.
        torch.set_num_threads(threads)
        try:
            return work()
        finally:
            with self._state:
                self._running -= 1
                self._exclusive = False
                self._state.notify_all()
