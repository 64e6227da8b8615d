"""The answer cache (api/answer_cache.py) through the API, with FastAPI's TestClient over a counting backend: what
hits and what misses, staleness by store version, TTL, bounds, one computation for concurrent identical questions."""
import asyncio
import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, Optional

import pytest
from fastapi.testclient import TestClient

from capitals_qa.api.answer_cache import STORE_VERSION, AnswerCache
from capitals_qa.api.app import create_api
from capitals_qa.api.backend import BodyLimits, Served
from fake_backend import FakeBackend

pytestmark = pytest.mark.unit

QUESTION = "What is the capital of Italy?"


class VersionedBackend(FakeBackend):
    """Answers as a replica following the write log does: each answer says the log entry it was computed at."""

    def __init__(self, seconds: float = 0.0):
        super().__init__()
        self.log = 0  # the write log's last entry
        self.applied = 0  # the replica's
        self.seconds = seconds

    async def run(self, query: str, params: Optional[Dict[str, Any]], debug: bool) -> Dict[str, Any]:
        applied = self.applied
        await asyncio.sleep(self.seconds)
        return {**await super().run(query, params, debug), STORE_VERSION: applied}

    async def store_version(self) -> Optional[int]:
        return self.log

    async def delete_documents(self, filters):
        self.log += 1
        self.applied = self.log


class Clock:
    now = 1000.0

    def __call__(self) -> float:
        return self.now


def client_for(backend, cache: AnswerCache) -> TestClient:
    return TestClient(create_api(lambda: Served(backend, BodyLimits(4096, 65536), cache=cache)))


def ask(client: TestClient, question: str = QUESTION, params: Optional[dict] = None, debug: bool = False):
    return client.post("/query", json={"query": question, "params": params, "debug": debug})


@pytest.fixture
def backend():
    return VersionedBackend()


@pytest.fixture
def cache():
    return AnswerCache(max_entries=100, max_bytes=1 << 20, ttl_s=60, clock=Clock())


def test_an_identical_question_is_answered_from_the_cache_with_the_same_body(backend, cache):
    client = client_for(backend, cache)
    first, second = ask(client), ask(client)
    assert first.headers["x-cache"] == "miss" and second.headers["x-cache"] == "hit"
    assert second.json() == first.json() and STORE_VERSION not in second.json()
    assert len(backend.calls) == 1
    plain = client.post("/", content=QUESTION.encode())  # POST / asks the same question without params
    assert plain.text == "Rome" and plain.headers["x-cache"] == "hit" and len(backend.calls) == 1
    assert cache.describe()["hits"] == 2 and cache.describe()["misses"] == 1


def test_only_what_the_reader_cannot_tell_apart_shares_an_entry(backend, cache):
    client = client_for(backend, cache)
    ask(client, "What is the capital of Italy?")
    assert ask(client, "  What is the capital of Italy?\n").headers["x-cache"] == "hit"
    decomposed, composed = "Where is Bogota\u0301?", "Where is Bogot\u00e1?"  # the same text, as NFD and NFC
    ask(client, decomposed)
    assert ask(client, composed).headers["x-cache"] == "hit"
    for other in ("what is the capital of italy?", "What is the capital of Italy"):
        assert ask(client, other).headers["x-cache"] == "miss"


def test_different_params_miss_and_debug_never_hits(backend, cache):
    client = client_for(backend, cache)
    ask(client, params={"Retriever": {"top_k": 3}})
    assert ask(client, params={"Retriever": {"top_k": 4}}).headers["x-cache"] == "miss"
    assert ask(client, params={"Retriever": {"top_k": 3}}).headers["x-cache"] == "hit"
    debugged = ask(client, debug=True)
    assert "x-cache" not in debugged.headers and "_debug" in debugged.json()
    assert "x-cache" not in ask(client, debug=True).headers
    assert [debug for _, _, debug in backend.calls] == [False, False, True, True]


def test_after_a_write_no_answer_computed_before_it_is_served(backend, cache):
    client = client_for(backend, cache)
    ask(client)
    assert ask(client).headers["x-cache"] == "hit"
    # Another replica took a delete: the log moved on, this replica has not applied it yet.
    backend.log += 1
    stale_replica = ask(client)
    assert stale_replica.headers["x-cache"] == "miss"
    assert ask(client).headers["x-cache"] == "miss"  # computed before the replica applied the write: never kept as current
    backend.applied = backend.log
    assert ask(client).headers["x-cache"] == "miss" and ask(client).headers["x-cache"] == "hit"


def test_a_store_without_a_write_log_is_current_until_a_write_through_this_process(cache):
    backend = FakeBackend()  # answers carry no store version (Elasticsearch)
    client = client_for(backend, cache)
    ask(client)
    assert ask(client).headers["x-cache"] == "hit"
    assert client.post("/documents/delete_by_filters", json={"filters": {"name": ["Italy"]}}).status_code == 501
    assert ask(client).headers["x-cache"] == "miss"


def test_entries_expire_after_their_time_to_live(backend):
    clock = Clock()
    cache = AnswerCache(max_entries=100, max_bytes=1 << 20, ttl_s=60, clock=clock)
    client = client_for(backend, cache)
    ask(client)
    clock.now += 59
    assert ask(client).headers["x-cache"] == "hit"
    clock.now += 2
    assert ask(client).headers["x-cache"] == "miss" and cache.describe()["expirations"] == 1


def test_the_bounds_evict_the_least_recently_used(backend):
    cache = AnswerCache(max_entries=2, max_bytes=1 << 20, ttl_s=60, clock=Clock())
    client = client_for(backend, cache)
    for question in ("Q1?", "Q2?", "Q1?", "Q3?"):  # Q1 was used after Q2: Q2 goes
        ask(client, question)
    assert [ask(client, question).headers["x-cache"] for question in ("Q1?", "Q3?", "Q2?")] == ["hit", "hit", "miss"]
    assert cache.describe()["evictions"] == 2 and cache.describe()["entries"] == 2
    entry_bytes = len(json.dumps(ask(client, "Q4?").json()).encode())
    small = AnswerCache(max_entries=100, max_bytes=entry_bytes + entry_bytes // 2, ttl_s=60, clock=Clock())
    client = client_for(backend, small)
    ask(client, "Q1?"), ask(client, "Q2?")
    assert small.describe()["entries"] == 1 and small.describe()["bytes"] <= small.max_bytes


def test_sixteen_concurrent_identical_questions_run_the_pipeline_once():
    backend = VersionedBackend(seconds=0.5)
    cache = AnswerCache(max_entries=100, max_bytes=1 << 20, ttl_s=60)
    # One event loop for every request (the client's portal), as in a replica.
    with client_for(backend, cache) as client, ThreadPoolExecutor(16) as pool:
        responses = list(pool.map(lambda _: ask(client), range(16)))
    assert len(backend.calls) == 1
    assert all(response.status_code == 200 and response.json() == responses[0].json() for response in responses)
    assert sorted(response.headers["x-cache"] for response in responses) == ["hit"] * 15 + ["miss"]
    assert cache.describe()["joins"] == 15


def test_a_question_never_joins_an_answer_computed_before_the_write_it_saw():
    """The log moved on and the replica computing the answer had not applied it yet: a request that saw the newer
    log does not take that answer as a hit; it is computed again for it."""
    backend = VersionedBackend(seconds=0.5)
    cache = AnswerCache(max_entries=100, max_bytes=1 << 20, ttl_s=60)
    with client_for(backend, cache) as client, ThreadPoolExecutor(4) as pool:
        ask(client)  # answers say their version from now on
        backend.log += 1  # another replica took a write; this one lags
        responses = list(pool.map(lambda _: ask(client), range(4)))
    assert all(response.status_code == 200 for response in responses)
    assert [response.headers["x-cache"] for response in responses] == ["miss"] * 4
    assert cache.describe()["joins"] == 0


def test_a_refusal_reaches_every_question_that_joined_it():
    from capitals_qa.api.errors import Overloaded

    class Refusing(VersionedBackend):
        async def run(self, query, params, debug):
            self.calls.append((query, params, debug))
            await asyncio.sleep(0.3)
            raise Overloaded("overloaded: a question would wait about 9.0 s", retry_after_s=3)

    backend = Refusing()
    with client_for(backend, AnswerCache(max_entries=100, max_bytes=1 << 20, ttl_s=60)) as client, ThreadPoolExecutor(4) as pool:
        responses = list(pool.map(lambda _: ask(client), range(4)))
    assert [response.status_code for response in responses] == [503] * 4 and len(backend.calls) == 1


@pytest.mark.parametrize("bounds", [(0, 1 << 20, 60), (100, 0, 60), (100, 1 << 20, 0)])
def test_a_zero_bound_turns_the_cache_off(backend, bounds):
    client = client_for(backend, AnswerCache(*bounds))
    responses = [ask(client), ask(client)]
    assert all("x-cache" not in response.headers for response in responses) and len(backend.calls) == 2
    assert client.get("/health").json()["answer_cache"] is None


def test_health_reports_the_cache(backend, cache):
    client = client_for(backend, cache)
    ask(client), ask(client)
    reported = client.get("/health").json()["answer_cache"]
    assert reported["entries"] == 1 and reported["hits"] == 1 and reported["misses"] == 1 and reported["max_entries"] == 100


def test_the_question_log_line_says_whether_the_cache_answered(backend, cache, caplog):
    client = client_for(backend, cache)
    with caplog.at_level("INFO", logger="ray.serve"):
        ask(client), ask(client), ask(client, debug=True)
    lines = [record.getMessage() for record in caplog.records if record.getMessage().startswith("question ")]
    assert [line.rsplit(" ", 1)[-1] for line in lines] == ["cache=miss", "cache=hit", "cache=off"]
