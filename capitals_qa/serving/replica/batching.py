"""Reader batching (per_node mode): the model calls of concurrent questions joined into one.

FARMReader.predict runs on a request thread per question; its model call is routed here, waits on the
replica's event loop for `@serve.batch` to gather the calls of other questions, and runs as one model call on a
worker thread. Each question's predictions go back to its own `predict`, which extracts answers as usual.
"""
import asyncio
import contextvars
import functools
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, List, Optional, Tuple

from haystack.nodes import FARMReader
from ray import serve

from capitals_qa.pipeline.internals import route_model_calls
from capitals_qa.serving.replica.workers import TorchWorkers
from capitals_qa.settings import DEFAULT_READER_BATCHING as DEFAULTS, ReaderBatching


class ReaderBatcher:
    def __init__(self, reader: FARMReader, workers: TorchWorkers):
        self.workers = workers
        self.enabled = False
        self.max_batch_size = DEFAULTS.max_batch_size
        self.batch_sizes: List[int] = []
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._request_threads: Optional[ThreadPoolExecutor] = None
        self._model_call = route_model_calls(reader, self._call)

    def configure(self, config: ReaderBatching, has_gpu: bool) -> None:
        self.enabled = config.enabled(has_gpu)
        self.max_batch_size = config.max_batch_size
        self._batch.set_max_batch_size(config.max_batch_size)
        self._batch.set_batch_wait_timeout_s(config.batch_wait_timeout_s)
        # Batched questions wait in threads of their own while one model call serves them all.
        if self._request_threads is not None:
            self._request_threads.shutdown(wait=False)
        self._request_threads = ThreadPoolExecutor(max_workers=config.max_batch_size, thread_name_prefix="request")

    async def run(self, work: Callable[[], Any]) -> Any:
        """`work()` (a node run that calls the reader) on a request thread, its model call batched."""
        self._loop = asyncio.get_running_loop()
        # In this coroutine's context: the node's span is a child of the replica's (see replica/workers.py).
        return await self._loop.run_in_executor(self._request_threads, contextvars.copy_context().run, work)

    def _call(self, objects, **kwargs):
        """FARMReader.predict's model call. With batching on, it joins the calls of concurrent questions."""
        if not self.enabled:
            return self._model_call(objects=objects, **kwargs)
        return asyncio.run_coroutine_threadsafe(self._batch((objects, kwargs)), self._loop).result()

    @serve.batch(max_batch_size=DEFAULTS.max_batch_size, batch_wait_timeout_s=DEFAULTS.batch_wait_timeout_s)
    async def _batch(self, calls: List[Tuple[list, dict]]) -> List[list]:
        # Every question's (query, passage) pairs in one model call; each pair keeps its own prediction.
        pairs = [pair for objects, _ in calls for pair in objects]
        self.batch_sizes.append(len(calls))
        predictions = await self.workers.run(functools.partial(self._model_call, objects=pairs, **calls[0][1]))
        split, start = [], 0
        for objects, _ in calls:
            split.append(predictions[start : start + len(objects)])
            start += len(objects)
        return split

    def describe(self) -> dict:
        return {"batching": self.enabled, "max_batch_size": self.max_batch_size, "largest_batch": max(self.batch_sizes, default=0)}
