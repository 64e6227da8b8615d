"""PipelineReplica (single mode): the whole query pipeline in each replica, called by the ingress through a handle.

The hop from the ingress is what lets a question outlive the replica running it: Serve's HTTP proxy answers
500 when the replica holding a request dies, while the ingress can ask another replica (serving/retry.py).
"""
from typing import Any, Dict, List, Optional, Union

from ray import serve

from capitals_qa.api.backend import Overloaded, ParamsRules, Unavailable
from capitals_qa.api.routers.questions import root_cause
from capitals_qa.serving.backends import STORE_METHODS, LocalPipeline, store_problem_now
from capitals_qa.serving.defaults import GRACEFUL_SHUTDOWN, MODEL_REPLICA, assigned_cpus
from capitals_qa.serving.metrics import RayQAMetrics
from capitals_qa.serving.refusals import ACCESS_LOG_OFF, Refusal
from capitals_qa.serving.replica_start import StartPhases, kept_for_life, leave_warm_worker
from capitals_qa.serving.workers import QueueLimits, TorchWorkers
from capitals_qa.settings import ServiceSettings


@serve.deployment(name="Pipeline", ray_actor_options=MODEL_REPLICA, max_ongoing_requests=32, logging_config=ACCESS_LOG_OFF,
                  **GRACEFUL_SHUTDOWN)
class PipelineReplica:
    def __init__(self, settings: ServiceSettings):
        self.start = StartPhases()
        # Node latencies are timed where the nodes run; the ingress counts the questions.
        queue = QueueLimits(settings.max_waiting_questions, settings.max_queue_wait_s)
        with kept_for_life():
            self.local = LocalPipeline(settings, TorchWorkers(assigned_cpus(), queue), RayQAMetrics())
        self.start.mark("constructed")

    async def run(self, query: str, params: Optional[Dict[str, Any]], debug: bool) -> Union[Dict[str, Any], Refusal]:
        self.start.mark("first_question")
        try:
            answer = await self.local.run(query, params, debug, on_worker=lambda: self.start.mark("first_run"))
            if self.start.answered():
                # Not before: the spare worker imports for seconds of CPU, which this first answer would wait for.
                leave_warm_worker()
            return answer
        except (Overloaded, Unavailable) as refusal:
            return refusal  # the service's state (503), not the question's: returned, see serving/refusals.py
        except Exception as error:
            # Ray sends an exception to the caller without its chain (__cause__), and the ingress tells a bad
            # parameter (400) from a failure (500) by the chain's first error: send that one. The replica's
            # log keeps the whole traceback.
            raise root_cause(error) from None

    async def store_call(self, method: str, *args: Any) -> Any:
        """A ServedStore method (upload, documents, delete, write_label, labels, delete_labels) on this replica's store."""
        if method not in STORE_METHODS:
            raise NotImplementedError(method)
        return await self.local._store(method, *args)

    async def params_rules(self) -> ParamsRules:
        return await self.local.params_rules()

    async def problems(self) -> List[str]:
        return await self.local.problems()

    async def describe(self) -> Dict[str, Any]:
        return await self.local.describe()

    async def check_health(self) -> None:
        """Serve's periodic replica check: a replica whose store cannot be read fails it, and Serve replaces it."""
        problem = await store_problem_now(self.local.store)
        if problem:
            raise RuntimeError(problem)
        self.start.mark("health_checked")
