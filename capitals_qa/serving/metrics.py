"""The API's metrics (api/metrics.py) recorded with Ray Serve's metrics, which Ray exports for Prometheus.

Ray adds its own tags (application, deployment, replica) and prefixes every name with `ray_` on its export
port, so Prometheus sees `ray_capitals_qa_questions_total` and so on.
"""
from ray.serve.metrics import Counter, Histogram

from capitals_qa.api.metrics import OUTCOMES, QAMetrics

PREFIX = "capitals_qa_"
# Seconds: a BM25 retrieval takes milliseconds, a reader on CPU up to tens of seconds.
LATENCY_BOUNDARIES = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]


class RayQAMetrics(QAMetrics):
    """One per replica (Ray's metric objects are per process)."""

    def __init__(self):
        self.questions = Counter(
            PREFIX + "questions", description=f"Questions by how they ended: {', '.join(OUTCOMES)}.", tag_keys=("outcome",)
        )
        self.node_seconds = Histogram(
            PREFIX + "node_latency_seconds", description="Time one pipeline node took for one question.",
            boundaries=LATENCY_BOUNDARIES, tag_keys=("node",),
        )
        # Totals: per question, divide by the questions counter's answered + no_answer.
        self.documents = Counter(PREFIX + "documents_retrieved", description="Documents the pipeline returned, summed over questions.")
        self.answers = Counter(PREFIX + "answers_returned", description="Answers returned (no-answers included), summed over questions.")
        self.cache = Counter(PREFIX + "answer_cache", description="The answer cache's hits, misses, joins, evictions and expirations.",
                             tag_keys=("event",))

    def question(self, outcome: str) -> None:
        self.questions.inc(tags={"outcome": outcome})

    def node_latency(self, node: str, seconds: float) -> None:
        self.node_seconds.observe(seconds, tags={"node": node})

    def retrieved(self, documents: int) -> None:
        if documents > 0:  # Ray's counters take positive increments only
            self.documents.inc(documents)

    def answered(self, answers: int) -> None:
        if answers > 0:
            self.answers.inc(answers)

    def cache_event(self, event: str) -> None:
        self.cache.inc(tags={"event": event})
