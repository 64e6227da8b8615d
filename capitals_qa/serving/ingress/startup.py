"""While the pipeline's deployments start, the ingress answers a JSON 503 at once instead of holding requests.

Serve starts every deployment of the application together. The ingress is light and runs first; the
deployments that hold the models (Pipeline, or the per-node Reader) are still importing torch and Haystack and
loading the model, tens of seconds. A handle call to a deployment that has no running replica yet waits in
Serve's router until one runs, so without this check a client's request would hang for that long.

A handle knows whether it has seen a running replica (Serve's proxy asks it the same before it routes to an
application); it learns that from the controller a moment after its router starts, so the ingress starts its
handles' routers in its constructor. Once a replica has run, the check passes for good: a later replica death
is the retry's business (ingress/retry.py), not start-up.
"""
import asyncio
import time
from typing import Iterable, List, Optional

from ray.serve.handle import DeploymentHandle

from capitals_qa.api.errors import Unavailable
from capitals_qa.serving import ray_internals


# A new ingress replica (a restart, a scale-up) among running model replicas: how long its handles may take to
# hear about them from the controller, which it waits for rather than refuse its first questions.
LEARN_S = 2.0


class StartupGate:
    def __init__(self, handles: Iterable[DeploymentHandle]):
        self.handles: List[DeploymentHandle] = list(handles)
        for handle in self.handles:
            ray_internals.start_router(handle)
        self._created = time.monotonic()
        self._started = False

    async def not_started(self) -> Optional[str]:
        """Why the ingress cannot answer yet, or None once every deployment has had a running replica."""
        while not self._started:
            waiting = [handle.deployment_name for handle in self.handles if not ray_internals.has_running_replica(handle)]
            if not waiting:
                self._started = True
            elif time.monotonic() - self._created > LEARN_S:
                return f"starting: {', '.join(waiting)} has no running replica yet; try again in a few seconds"
            else:
                await asyncio.sleep(0.05)
        return None

    async def check(self) -> None:
        """Raises Unavailable (a JSON 503 with Retry-After) while a deployment has never had a running replica."""
        reason = await self.not_started()
        if reason:
            raise Unavailable(reason)
