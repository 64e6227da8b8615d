"""Worker threads share the replica's CPUs between the questions running at once."""
import asyncio
import threading
import time

import torch

from capitals_qa.serving.workers import TorchWorkers


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
