"""PipelineReplica (single mode): the `Pipeline` deployment, a LocalPipeline in each replica, called by the ingress
through a handle.

The hop from the ingress is what lets a question outlive the replica running it: Serve's HTTP proxy answers
500 when the replica holding a request dies, while the ingress can ask another replica (ingress/retry.py).
"""
from typing import Any, Dict, List, Optional, Union

from opentelemetry.trace import SpanKind
from ray import serve

from capitals_qa import tracing
from capitals_qa.api.backend import ParamsRules
from capitals_qa.api.errors import Overloaded, Unavailable, root_cause
from capitals_qa.serving import ray_internals
from capitals_qa.serving.defaults import ACCESS_LOG_OFF, GRACEFUL_SHUTDOWN, MODEL_REPLICA
from capitals_qa.serving.metrics import RayQAMetrics
from capitals_qa.serving.refusals import Refusal
from capitals_qa.serving.replica.forwarding import ForwardsStore
from capitals_qa.serving.replica.resources import assigned_cpus, has_gpu
from capitals_qa.serving.replica.start import StartPhases, kept_for_life
from capitals_qa.settings import ServiceSettings


@serve.deployment(name="Pipeline", ray_actor_options=MODEL_REPLICA, max_ongoing_requests=32, logging_config=ACCESS_LOG_OFF,
                  **GRACEFUL_SHUTDOWN)
class PipelineReplica(ForwardsStore):
    def __init__(self, settings: ServiceSettings):
        self.start = StartPhases()
        tracing.configure()
        with kept_for_life():
            # The model code, here in the replica (see replica/forwarding.py).
            from capitals_qa.serving.replica.local_pipeline import LocalPipeline
            from capitals_qa.serving.replica.workers import QueueLimits, TorchWorkers

            workers = TorchWorkers(assigned_cpus(), QueueLimits(settings.max_waiting_questions, settings.max_queue_wait_s))
            # Node latencies are timed where the nodes run; the ingress counts the questions.
            self.local = LocalPipeline(settings, workers, has_gpu(), RayQAMetrics())
        self.start.mark("constructed")

    async def run(self, query: str, params: Optional[Dict[str, Any]], debug: bool,
                  carrier: Optional[tracing.Carrier] = None) -> Union[Dict[str, Any], Refusal]:
        """`carrier`: the ingress's span of this question, where tracing is on (see capitals_qa/tracing.py)."""
        self.start.mark("first_question")
        with tracing.span("replica Pipeline", given=carrier, kind=SpanKind.SERVER) as span:
            try:
                answer = await self.local.run(query, params, debug, on_worker=lambda: self.start.mark("first_run"))
                if self.start.answered():
                    # Not before: the spare worker imports for seconds of CPU, which this first answer would wait for.
                    ray_internals.leave_warm_worker()
                return answer
            except (Overloaded, Unavailable) as refusal:
                tracing.refused(span, str(refusal))
                return refusal  # the service's state (503), not the question's: returned, see serving/refusals.py
            except Exception as error:
                # Ray sends an exception to the caller without its chain (__cause__), and the ingress tells a bad
                # parameter (400) from a failure (500) by the chain's first error: send that one. The replica's
                # log keeps the whole traceback.
                raise root_cause(error) from None

    async def retrieve(self, query: str, params: Optional[Dict[str, Any]],
                       carrier: Optional[tracing.Carrier] = None) -> Union[Dict[str, Any], Refusal]:
        with tracing.span("replica Pipeline", given=carrier, kind=SpanKind.SERVER) as span:
            try:
                return await self.local.retrieve(query, params)
            except (Overloaded, Unavailable) as refusal:
                tracing.refused(span, str(refusal))
                return refusal
            except Exception as error:
                raise root_cause(error) from None

    async def params_rules(self) -> ParamsRules:
        return await self.local.params_rules()

    async def problems(self) -> List[str]:
        return await self.local.problems()

    async def describe(self) -> Dict[str, Any]:
        return await self.local.describe()

    async def check_health(self) -> None:
        await super().check_health()
        self.start.mark("health_checked")
