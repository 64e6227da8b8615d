"""PipelineNode (per_node mode): one node of the query pipeline per deployment, a LocalNode in each replica."""
from typing import Any, Dict, List, Optional, Tuple, Union

from opentelemetry.trace import SpanKind
from ray import serve

from capitals_qa import tracing
from capitals_qa.api.errors import Overloaded, root_cause
from capitals_qa.serving.defaults import ACCESS_LOG_OFF, GRACEFUL_SHUTDOWN, LIGHT_REPLICA
from capitals_qa.serving.refusals import Refusal
from capitals_qa.serving.replica.forwarding import ForwardsStore
from capitals_qa.serving.replica.resources import assigned_cpus, has_gpu
from capitals_qa.serving.replica.start import kept_for_life
from capitals_qa.settings import ReaderBatching, ServiceSettings


@serve.deployment(ray_actor_options=LIGHT_REPLICA, max_ongoing_requests=32, logging_config=ACCESS_LOG_OFF, **GRACEFUL_SHUTDOWN)
class PipelineNode(ForwardsStore):
    def __init__(self, settings: ServiceSettings, node_name: str):
        tracing.configure()
        with kept_for_life():
            # The model code, here in the replica (see replica/forwarding.py).
            from capitals_qa.serving.replica.local_node import LocalNode
            from capitals_qa.serving.replica.workers import QueueLimits, TorchWorkers

            # The same time-bounded queue as a Pipeline replica's: a question that would wait past max_queue_wait_s
            # for this node's workers is refused at once (a JSON 503 from the ingress), not queued.
            workers = TorchWorkers(assigned_cpus(), QueueLimits(settings.max_waiting_questions, settings.max_queue_wait_s))
            self.local = LocalNode(settings, node_name, workers, has_gpu())
            self.reconfigure({})

    def reconfigure(self, config: Dict[str, Any]) -> None:
        """The Reader's user_config: {"batching": "auto"|true|false, "max_batch_size": int, "batch_wait_timeout_s": float}."""
        self.local.configure(ReaderBatching.parse_obj(config or {}), has_gpu())

    async def run(self, given: List[Any], question: Dict[str, Any], root: str, last: bool, debug: bool,
                  carrier: Optional[tracing.Carrier] = None) -> Union[Tuple[Any, str], Refusal]:
        """This node's step of `Pipeline.run` (see replica/local_node.py); `carrier` as for a Pipeline replica."""
        with tracing.span(f"replica {self.local.name}", given=carrier, kind=SpanKind.SERVER) as span:
            try:
                return await self.local.run(given, question, root, last, debug)
            except Overloaded as refusal:
                tracing.refused(span, str(refusal))
                return refusal  # returned, not raised: see serving/refusals.py
            except Exception as error:
                raise root_cause(error) from None  # as a Pipeline replica sends it (replica/pipeline_replica.py)

    async def finish(self, handed: bytes, debug: bool) -> Dict[str, Any]:
        """/query's body from this node's pickled output, when the walk ended at it (its edge led nowhere)."""
        return self.local.finish(handed, debug)

    async def describe(self) -> Dict[str, Any]:
        return await self.local.describe()
