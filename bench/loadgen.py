"""Closed-loop load over HTTP, questions run back to back in-process, and the figures both are reported with."""
import asyncio
import itertools
import math
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence

import aiohttp

REQUEST_TIMEOUT_S = 60


@dataclass
class Measurement:
    """What one window of load gave: latencies of the answers that came back 200 within it, and the errors."""

    duration_s: float
    latencies_ms: List[float] = field(default_factory=list)
    errors: Dict[str, int] = field(default_factory=dict)  # kind ("HTTP 503", "TimeoutError") -> count

    def add_error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1

    def summary(self) -> Dict:
        return {
            "qps": len(self.latencies_ms) / self.duration_s,
            "p50_ms": percentile(self.latencies_ms, 50),
            "p99_ms": percentile(self.latencies_ms, 99),
            "ok": len(self.latencies_ms),
            "errors": sum(self.errors.values()),
            "error_kinds": dict(self.errors),
            "duration_s": self.duration_s,
        }


def percentile(values: Sequence[float], q: float) -> Optional[float]:
    """Nearest rank: always a latency that was observed (with few samples p99 is the slowest); None if none were."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q / 100 * len(ordered))) - 1]


# A client told 503 waits as told (Retry-After) before its next question, a second at most: a closed loop that
# asked again at once would spend the server's cores on refusals and measure that instead of answering.
RETRY_AFTER_CAP_S = 1.0


async def ask(session: aiohttp.ClientSession, url: str, question: str) -> Optional[str]:
    """Post one plain-text question; None when the answer came back 200, else what went wrong."""
    try:
        async with session.post(url, data=question.encode("utf-8"), headers={"content-type": "text/plain"}) as response:
            await response.read()
            if response.status == 503 and "retry-after" in response.headers:
                retry_after = response.headers["retry-after"]
                await asyncio.sleep(min(RETRY_AFTER_CAP_S, float(retry_after) if retry_after.isdigit() else RETRY_AFTER_CAP_S))
            return None if response.status == 200 else f"HTTP {response.status}"
    except (aiohttp.ClientError, asyncio.TimeoutError) as error:
        return type(error).__name__


async def closed_loop(
    session: aiohttp.ClientSession,
    url: str,
    questions: Sequence[str],
    concurrency: int,
    duration_s: float,
    min_answers: int = 0,
    max_s: Optional[float] = None,
) -> Measurement:
    """`concurrency` clients, each asking its next question as soon as its previous answer arrives.

    The window lasts `duration_s`, then goes on until `min_answers` answers have come back, for at most `max_s`
    in all: a slow reader answers a handful of questions in a fixed window, too few to compare. Only answers
    that arrive within the window count. Questions still in flight at its end are cancelled (closing their
    connections, which Serve turns into cancelled requests) instead of waited for: at 16 clients on a slow
    model, waiting would cost up to a minute per level and measure nothing.
    """
    measurement = Measurement(duration_s)
    next_question = itertools.cycle(questions)
    max_s = max(duration_s, max_s or duration_s)
    opened = time.perf_counter()
    closed = False
    enough = asyncio.Event()

    async def client() -> None:
        while True:
            started = time.perf_counter()
            outcome = await ask(session, url, next(next_question))
            if closed or time.perf_counter() - opened > max_s:
                return
            if outcome is None:
                measurement.latencies_ms.append((time.perf_counter() - started) * 1000)
            else:
                measurement.add_error(outcome)
            if len(measurement.latencies_ms) >= min_answers and time.perf_counter() - opened >= duration_s:
                enough.set()

    clients = [asyncio.ensure_future(client()) for _ in range(concurrency)]
    await asyncio.sleep(duration_s)
    if len(measurement.latencies_ms) < min_answers:
        try:
            await asyncio.wait_for(enough.wait(), max_s - (time.perf_counter() - opened))
        except asyncio.TimeoutError:
            pass
    closed = True
    measurement.duration_s = min(max_s, time.perf_counter() - opened)
    for task in clients:
        task.cancel()
    await asyncio.gather(*clients, return_exceptions=True)
    return measurement


def answers_needed(min_answers: int, concurrency: int) -> int:
    """At least two answers per client as well, so that a window measures the queue's steady state, not the
    first round of questions that every client sends at once."""
    return max(min_answers, 2 * concurrency) if min_answers else 0


async def measure_levels(
    url: str,
    questions: Sequence[str],
    levels: Sequence[int],
    duration_s: float,
    report: Callable[[int, Dict], None] = lambda level, summary: None,
    min_answers: int = 0,
    max_s: Optional[float] = None,
) -> Dict[int, Dict]:
    """Warm up, then one closed-loop window per concurrency level, all over one keep-alive session."""
    # A question may wait as long as a window lasts: a slow server's queue (16 clients of 30 s questions) is
    # what is measured, and a client that gave up earlier would count its answer as lost.
    timeout = aiohttp.ClientTimeout(total=max(REQUEST_TIMEOUT_S, duration_s, max_s or 0))
    connector = aiohttp.TCPConnector(limit=max(levels))
    results = {}
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        # Two questions at once, so that each of two replicas answers its first (slow) question before the clock runs.
        await asyncio.gather(*(ask(session, url, question) for question in questions[:2]))
        for number, level in enumerate(levels):
            if number:
                # One answered question between levels: the server has finished what the last level left running.
                await ask(session, url, questions[0])
            needed = answers_needed(min_answers, level)
            summary = (await closed_loop(session, url, questions, level, duration_s, needed, max_s)).summary()
            report(level, summary)
            results[level] = summary
    return results


def back_to_back(
    answer: Callable[[str], object], questions: Sequence[str], duration_s: float, min_answers: int = 0, max_s: Optional[float] = None
) -> Measurement:
    """Questions answered one after another in this process: no HTTP, no Ray. The window as in closed_loop."""
    measurement = Measurement(duration_s)
    max_s = max(duration_s, max_s or duration_s)
    opened = time.perf_counter()
    for question in itertools.cycle(questions):
        started = time.perf_counter()
        try:
            answer(question)
            error = None
        except Exception as failure:  # counted like an HTTP error, so one bad question does not end the run
            error = type(failure).__name__
        finished = time.perf_counter()
        if finished - opened > max_s:
            break
        if error is None:
            measurement.latencies_ms.append((finished - started) * 1000)
        else:
            measurement.add_error(error)
        if finished - opened >= duration_s and len(measurement.latencies_ms) >= min_answers:
            break
    measurement.duration_s = min(max_s, time.perf_counter() - opened)
    return measurement
