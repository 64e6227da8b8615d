"""Worker threads share the replica's CPUs between the questions running at once."""
import asyncio
import threading
import time

import pytest
import torch

from capitals_qa.serving.replica.workers import TorchWorkers

pytestmark = pytest.mark.unit


@pytest.fixture(autouse=True)
def torch_threads_restored():
    # Building TorchWorkers sets the building thread's torch threads: later tests on this thread keep theirs.
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def test_the_thread_building_a_replica_uses_as_many_torch_threads_as_the_replica_has_cpus():
    # A worker Ray started with preloaded modules imported torch before OMP_NUM_THREADS was set: 2 threads here.
    seen = []

    def build():
        torch.set_num_threads(2)
        TorchWorkers(1)
        seen.append(torch.get_num_threads())

    thread = threading.Thread(target=build)
    thread.start()
    thread.join()
    assert seen == [1]


def run_all(workers, works):
    async def main():
        return await asyncio.gather(*(workers.run(work, exclusive=exclusive) for work, exclusive in works))

    return asyncio.run(main())


def test_a_lone_question_gets_every_cpu():
    assert run_all(TorchWorkers(2), [(torch.get_num_threads, False)]) == [2]


def test_overlapping_questions_get_one_thread_each():
    both_started = threading.Barrier(2, timeout=10)

    def work():
        both_started.wait()  # both run at once, or this times out
        return torch.get_num_threads()

    assert run_all(TorchWorkers(2), [(work, False), (work, False)]) == [1, 1]


def test_exclusive_work_never_overlaps_other_work():
    running = []

    def work():
        running.append(1)
        seen = [len(running)]
        time.sleep(0.05)
        seen.append(len(running))
        running.pop()
        return seen, torch.get_num_threads()

    results = run_all(TorchWorkers(2), [(work, False), (work, True), (work, False)])
    seen_by_exclusive, threads = results[1]
    assert seen_by_exclusive == [1, 1] and threads == 2  # alone from start to end, with every CPU


def test_a_waiting_question_whose_caller_is_cancelled_leaves_the_queue_and_never_runs():
    release = threading.Event()
    ran = []

    async def main():
        workers = TorchWorkers(1)
        busy = asyncio.ensure_future(workers.run(lambda: release.wait(10)))
        waiting = asyncio.ensure_future(workers.run(lambda: ran.append("abandoned")))
        behind = asyncio.ensure_future(workers.run(lambda: ran.append("next")))
        await asyncio.sleep(0.05)
        assert workers.describe()["waiting"] == 2
        waiting.cancel()  # what Serve does when the client disconnects or the time limit passes
        await asyncio.sleep(0.05)
        assert workers.describe()["waiting"] == 1
        release.set()
        await asyncio.gather(busy, behind)
        return workers.describe()

    queue = asyncio.run(main())
    assert ran == ["next"]
    assert (queue["started"], queue["left_queue"], queue["running"], queue["waiting"]) == (2, 1, 0, 0)


def test_a_question_that_would_wait_past_the_budget_is_refused_at_once_with_retry_after():
    from capitals_qa.api.errors import Overloaded
    from capitals_qa.serving.replica.workers import QueueLimits

    async def main():
        workers = TorchWorkers(1, QueueLimits(max_waiting=100, max_wait_s=0.5))
        await workers.run(lambda: time.sleep(0.2))  # teaches it that a question holds the worker ~0.2 s
        release = threading.Event()
        busy = asyncio.ensure_future(workers.run(lambda: release.wait(10)))
        admitted = [asyncio.ensure_future(workers.run(lambda: None)) for _ in range(2)]  # ~0.4-0.6 s of wait
        await asyncio.sleep(0.05)
        started = time.monotonic()
        try:
            await workers.run(lambda: None)
        except Overloaded as error:
            refused, refused_in_s = error, time.monotonic() - started
        release.set()
        await asyncio.gather(busy, *admitted)
        return refused, refused_in_s, workers.describe()

    refused, refused_in_s, queue = asyncio.run(main())
    assert "would wait" in str(refused) and refused.retry_after_s >= 1
    assert refused_in_s < 0.05  # refused without waiting
    assert queue["refused"] == 1 and queue["started"] == 4


def test_the_waiting_count_is_bounded_too():
    from capitals_qa.api.errors import Overloaded
    from capitals_qa.serving.replica.workers import QueueLimits

    async def main():
        workers = TorchWorkers(1, QueueLimits(max_waiting=1, max_wait_s=60))
        release = threading.Event()
        busy = asyncio.ensure_future(workers.run(lambda: release.wait(10)))
        waiting = asyncio.ensure_future(workers.run(lambda: None))
        await asyncio.sleep(0.05)
        try:
            await workers.run(lambda: None)
            refused = None
        except Overloaded as error:
            refused = error
        release.set()
        await asyncio.gather(busy, waiting)
        return refused

    assert "1 questions are waiting" in str(asyncio.run(main()))


def test_a_question_that_waited_past_the_budget_is_not_started():
    from capitals_qa.api.errors import Overloaded
    from capitals_qa.serving.replica.workers import QueueLimits

    ran = []

    async def main():
        # No run time measured yet, so the estimate admits it; the wait itself then exceeds the budget.
        workers = TorchWorkers(1, QueueLimits(max_waiting=10, max_wait_s=0.1))
        busy = asyncio.ensure_future(workers.run(lambda: time.sleep(0.3)))
        await asyncio.sleep(0.01)
        try:
            await workers.run(lambda: ran.append("late"))
        except Overloaded as error:
            await busy
            return error, workers.describe()

    error, queue = asyncio.run(main())
    assert ran == [] and "waited" in str(error) and queue["waited_too_long"] == 1 and queue["running"] == 0
