"""Answering one question, whichever route asked it (`POST /`, `/query`, the MCP tools): within the time limit, from
the answer cache where it may be, metered and logged in one line."""
import asyncio
import logging
import time
from typing import Any, Dict, Optional, Tuple

from fastapi import Request
from opentelemetry.trace import SpanKind

from capitals_qa import tracing
from capitals_qa.api.answer_cache import STORE_VERSION, question_key
from capitals_qa.api.backend import Served
from capitals_qa.api.dependencies import request_id
from capitals_qa.api.errors import Overloaded, RequestError, root_cause

# Serve writes this logger to each replica's log (by name only: this layer imports no Ray).
logger = logging.getLogger("ray.serve")


def best_answer_text(result: Dict[str, Any]) -> str:
    """The top answer's text; Haystack sorts answers by score, and a no-answer is the empty string."""
    answers = result.get("answers") or []
    return answers[0]["answer"] if answers else ""


def answered_or_not(service: Served, result: Dict[str, Any]) -> str:
    """Meters what the pipeline returned; "answered" when the best answer has text (Haystack's no-answer has none)."""
    answers = result.get("answers") or []
    service.metrics.retrieved(len(result.get("documents") or []))
    service.metrics.answered(len(answers))
    return "answered" if best_answer_text(result) else "no_answer"


def cache_header(cached: Optional[str]) -> Dict[str, str]:
    """`X-Cache: hit` for an answer the cache gave (kept, or computed once for concurrent askers), `miss` for one
    computed for this request; none where the cache is off or the request asked for debug output."""
    return {CACHE_HEADER: cached} if cached else {}


CACHE_HEADER = "X-Cache"


async def answer(service: Served, request: Request, query: str, params: Optional[Dict[str, Any]],
                 debug: bool) -> Tuple[Dict[str, Any], Optional[str]]:
    """Run one question within the time limit, from the answer cache where it may be, and log one line for it:
    request id, latency, outcome, cache. Returns the answer and "hit" or "miss" (None: the cache was not asked).
    Where tracing is on, this is the span every other span of the question descends from (capitals_qa/tracing.py).

    When the client goes away, Serve cancels this coroutine: a question still waiting for a worker leaves the
    queue then (outcome "cancelled"), so nobody's CPU goes to an answer nobody reads.
    """
    rid = request_id(request)
    started = time.perf_counter()
    outcome, cached = "error", None
    # A client's mistake (a 400) is not an error of the service: this block marks the span's status itself.
    with tracing.span(f"{request.method} {request.url.path}", given=request.headers, kind=SpanKind.SERVER, errors_marked=False,
                      **{tracing.REQUEST_ID: rid}) as span:
        try:
            if debug or not service.cache.enabled:  # debug output describes one run: never kept, never served again
                result = await asyncio.wait_for(service.backend.run(query, params, debug), service.question_timeout_s)
                result.pop(STORE_VERSION, None)
            else:
                compute = lambda: service.backend.run(query, params, False)  # noqa: E731
                result, how = await asyncio.wait_for(service.cache.answer(question_key(query, params), service.backend.store_version, compute),
                                                     service.question_timeout_s)
                cached = "miss" if how == "miss" else "hit"
            outcome = f"{len(result.get('answers') or [])} answers"
            return result, cached
        except asyncio.CancelledError:
            outcome = "cancelled"
            raise
        except asyncio.TimeoutError:
            outcome = "timed out"
            raise RequestError(504, f"the question took longer than the limit of {service.question_timeout_s} s (QUESTION_TIMEOUT_S)") from None
        except Overloaded:
            outcome = "overloaded"
            raise
        except Exception as error:
            cause = root_cause(error)
            # Haystack raises these for parameter values it cannot use (a malformed filter, say).
            if not params or not isinstance(cause, (ValueError, TypeError)):
                span.record_exception(cause)
                raise
            outcome = f"rejected: {cause}"
            raise RequestError(400, f"params: {cause}") from error
        finally:
            latency_ms = (time.perf_counter() - started) * 1000
            logger.info("question request_id=%s latency_ms=%.1f outcome=%s cache=%s", rid, latency_ms, outcome, cached or "off")
            span.set_attributes({tracing.OUTCOME: outcome, tracing.CACHE: cached or "off"})
            if outcome in ("error", "timed out", "overloaded"):
                tracing.refused(span, outcome)
