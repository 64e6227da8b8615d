"""What the API meters, without depending on how: the serving layer hands in an implementation (Ray's metrics)."""
import asyncio
from contextlib import contextmanager
from typing import Iterator, List

from capitals_qa.api.errors import RequestError

# Every question ends in one of these. overloaded and timed_out come from RequestError 503 and 504.
OUTCOMES = ("answered", "no_answer", "client_error", "overloaded", "timed_out", "failed")


class QAMetrics:
    """Records nothing: the API without a serving layer (tests, tools). serving/metrics.py records to Ray."""

    def question(self, outcome: str) -> None:
        """One question ended with `outcome` (one of OUTCOMES)."""

    def node_latency(self, node: str, seconds: float) -> None:
        """One node of the pipeline took `seconds` for one question."""

    def retrieved(self, documents: int) -> None:
        """A question's pipeline returned this many documents."""

    def answered(self, answers: int) -> None:
        """A question got this many answers (the no-answer answer included)."""

    def cache_event(self, event: str) -> None:
        """The answer cache had a hit, miss, join, eviction or expiration (api/answer_cache.py's counts)."""


def outcome_of_status(status: int) -> str:
    return {503: "overloaded", 504: "timed_out", 408: "timed_out"}.get(status, "client_error" if status < 500 else "failed")


@contextmanager
def question_outcome(metrics: QAMetrics) -> Iterator[List[str]]:
    """Counts one question by how it ended: the route puts answered/no_answer in the yielded list; an error
    counts by its status (a RequestError's); a cancelled request (Serve's request_timeout_s, or the client gone)
    as timed_out; anything else as failed."""
    outcome: List[str] = []
    try:
        yield outcome
    except RequestError as error:
        outcome[:] = [outcome_of_status(error.status)]
        raise
    except asyncio.CancelledError:
        outcome[:] = ["timed_out"]
        raise
    except Exception:
        outcome[:] = ["failed"]
        raise
    finally:
        metrics.question(outcome[0] if outcome else "failed")
