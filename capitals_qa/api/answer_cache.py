"""Answers to repeated questions, kept where questions arrive (the ingress), so that a hit costs no model replica's
work and no wait in its queue. Never stale: an answer is kept under the store's version it was computed at, and
served only while the store is still at that version; entries also expire after a time to live, for stores that
change behind the service's back. Bounded by entries and bytes, least recently used out first.

The store's version: where replicas follow the shared write log, its last entry (a replica answers with the entry it
had applied when the question started, and the ingress reads the log's last entry at each lookup); elsewhere
(Elasticsearch), the writes made through this process, so that entries last until the next write or their TTL.
"""
import asyncio
import json
import time
import unicodedata
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Dict, Optional, Tuple

# An answer's own account of the store's version it was computed at (the write log entry its replica had applied
# when the question started); taken out before the answer is sent.
STORE_VERSION = "_store_version"

Key = Tuple[str, str]


@dataclass
class Entry:
    body: bytes  # the answer as JSON: compact, and never changed by whoever reads it
    version: str
    expires: float


def question_key(question: str, params: Optional[Dict[str, Any]]) -> Key:
    """What an answer depends on in a request: the question as the Reader sees it (Unicode NFC, without surrounding
    white space; case and punctuation kept) and the params, canonically ordered."""
    return unicodedata.normalize("NFC", question).strip(), json.dumps(params or {}, sort_keys=True, separators=(",", ":"))


class AnswerCache:
    def __init__(self, max_entries: int, max_bytes: int, ttl_s: float, observe: Callable[[str], None] = lambda event: None,
                 clock: Callable[[], float] = time.monotonic):
        """`observe(event)` is told each hit, miss, join, eviction and expiration (the metrics)."""
        self.max_entries, self.max_bytes, self.ttl_s = max_entries, max_bytes, ttl_s
        self._observe = observe
        self._clock = clock
        self._entries: "OrderedDict[Key, Entry]" = OrderedDict()
        self._bytes = 0
        self._in_flight: Dict[Tuple[Key, str], asyncio.Future] = {}
        self._local_writes = 0
        self._by_log = False  # whether answers say which write log entry they were computed at
        self.counts = {"hits": 0, "misses": 0, "joins": 0, "evictions": 0, "expirations": 0}

    @property
    def enabled(self) -> bool:
        return self.max_entries > 0 and self.max_bytes > 0 and self.ttl_s > 0

    def wrote(self) -> None:
        """A write to the store went through this process: entries of a store without a write log are stale now."""
        self._local_writes += 1

    async def answer(self, key: Key, log_version: Callable[[], Awaitable[Optional[int]]],
                     compute: Callable[[], Awaitable[Dict[str, Any]]]) -> Tuple[Dict[str, Any], str]:
        """The answer for `key` and how it was had: "hit" (kept), "join" (computed for another request at the same
        time) or "miss" (computed for this one). `log_version`: the write log's last entry now, if any."""
        while True:
            logged = await log_version() if self._by_log else None
            version = f"log:{logged}" if logged is not None else f"writes:{self._local_writes}"
            entry = self._entries.get(key)
            if entry is not None:
                if entry.version == version and entry.expires > self._clock():
                    self._entries.move_to_end(key)
                    self._count("hits")
                    return json.loads(entry.body), "hit"
                self._drop(key, "expirations" if entry.version == version else None)
            flight = self._in_flight.get((key, version))
            if flight is None:
                return await self._compute(key, version, compute), "miss"
            try:
                body, answered_at = await asyncio.shield(flight)
            except asyncio.CancelledError:
                if flight.cancelled() and not asyncio.current_task().cancelling():
                    continue  # the request computing it went away: compute it for this one
                raise
            if logged is not None and answered_at is not None and answered_at < logged:
                continue  # computed on a replica that had not applied the log this request saw: not current for it
            self._count("joins")
            return json.loads(body), "join"

    async def _compute(self, key: Key, version: str, compute: Callable[[], Awaitable[Dict[str, Any]]]) -> Dict[str, Any]:
        self._count("misses")
        flight: asyncio.Future = asyncio.get_running_loop().create_future()
        self._in_flight[(key, version)] = flight
        try:
            body = await compute()
        except asyncio.CancelledError:
            flight.cancel()
            raise
        except BaseException as error:
            flight.set_exception(error)
            flight.exception()  # read, so that asyncio does not report it when no request joined
            raise
        finally:
            del self._in_flight[(key, version)]
        answered_at = body.pop(STORE_VERSION, None)
        self._by_log = self._by_log or answered_at is not None
        encoded = json.dumps(body).encode()
        flight.set_result((encoded, answered_at))
        self._keep(key, Entry(encoded, f"log:{answered_at}" if answered_at is not None else version, self._clock() + self.ttl_s))
        return body

    def describe(self) -> Dict[str, Any]:
        return {"entries": len(self._entries), "bytes": self._bytes, "max_entries": self.max_entries, "max_bytes": self.max_bytes,
                "ttl_s": self.ttl_s, **self.counts}

    def _keep(self, key: Key, entry: Entry) -> None:
        if len(entry.body) > self.max_bytes:
            return
        if key in self._entries:
            self._drop(key, None)
        self._entries[key] = entry
        self._bytes += len(entry.body)
        while len(self._entries) > self.max_entries or self._bytes > self.max_bytes:
            self._drop(next(iter(self._entries)), "evictions")

    def _drop(self, key: Key, counted_as: Optional[str]) -> None:
        self._bytes -= len(self._entries.pop(key).body)
        if counted_as:
            self._count(counted_as)

    def _count(self, event: str) -> None:
        self.counts[event] += 1
        self._observe(event)
