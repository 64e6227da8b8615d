"""RemotePipeline (single mode): the API's Backend in the ingress, over the `Pipeline` deployment's handle.

Each question goes to a replica of the Pipeline deployment (a LocalPipeline there), and again to another replica
if that one dies holding it (ingress/retry.py). Store calls go to one replica too (ingress/remote_store.py).
"""
import asyncio
from typing import Any, Dict, List, Optional

from ray.serve.handle import DeploymentHandle

from capitals_qa import tracing
from capitals_qa.api.backend import Backend, ParamsRules
from capitals_qa.serving.defaults import STORE_CHECK_TIMEOUT_S
from capitals_qa.serving.ingress.remote_store import RemoteStore
from capitals_qa.serving.ingress.retry import call_replica
from capitals_qa.serving.ingress.startup import StartupGate
from capitals_qa.serving.refusals import raise_refusal


class RemotePipeline(RemoteStore, Backend):
    def __init__(self, pipeline: DeploymentHandle, write_log: Optional[str]):
        self.pipeline = pipeline
        self.startup = StartupGate([pipeline])
        super().__init__(pipeline, self.startup, "the query pipeline reads no document store", write_log)
        self._rules: Optional[ParamsRules] = None

    async def run(self, query: str, params: Optional[Dict[str, Any]], debug: bool) -> Dict[str, Any]:
        await self.startup.check()
        # A full replica's refusal (Overloaded) reaches the client as it is (docs/operations.md, "Overload").
        return raise_refusal(await self._ask(query, params, debug))

    async def _ask(self, query: str, params: Optional[Dict[str, Any]], debug: bool) -> Any:
        carrier = tracing.carrier()
        return await call_replica(lambda: self.pipeline.run.remote(query, params, debug, carrier), "a question")

    async def retrieve(self, query: str, params: Optional[Dict[str, Any]]) -> Dict[str, Any]:
        await self.startup.check()
        carrier = tracing.carrier()
        return raise_refusal(await call_replica(lambda: self.pipeline.retrieve.remote(query, params, carrier), "a search"))

    async def params_rules(self) -> ParamsRules:
        if self._rules is None:
            await self.startup.check()
            self._rules = await call_replica(lambda: self.pipeline.params_rules.remote(), "params_rules")
        return self._rules

    async def problems(self) -> List[str]:
        if starting := await self.startup.not_started():
            return [starting]
        # As long as a replica's store may take to answer, and a little longer: a busy replica is not down.
        timeout_s = STORE_CHECK_TIMEOUT_S + 1
        try:
            return await asyncio.wait_for(call_replica(lambda: self.pipeline.problems.remote(), "problems"), timeout_s)
        except asyncio.TimeoutError:
            return [f"no Pipeline replica answered within {timeout_s} s"]

    async def describe(self) -> Dict[str, Any]:
        await self.startup.check()
        return await call_replica(lambda: self.pipeline.describe.remote(), "describe")
