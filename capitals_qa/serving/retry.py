"""Calls from the ingress to other deployments that survive a replica's death.

A replica that dies while it holds questions (SIGKILL, out of memory, its node gone) fails them with a
RayActorError in the caller: ActorDiedError once Ray knows the actor is dead, ActorUnavailableError while it
cannot tell. Serve's router has by then stopped sending to that replica, and a question is idempotent (it only
reads the store), so the caller asks again and the next replica answers. Errors raised by the pipeline itself
arrive as the pipeline's own exception (RayTaskError) and are never retried.
"""
import logging
from typing import Awaitable, Callable, TypeVar

from ray.exceptions import RayActorError

logger = logging.getLogger("ray.serve")

T = TypeVar("T")

# One death is the common case; a node that takes several replicas with it may need a second retry.
ATTEMPTS = 3


async def call_replica(call: Callable[[], Awaitable[T]], what: str) -> T:
    """`await call()`, again (a fresh handle call) whenever the replica that held it died or went unreachable."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return await call()
        except RayActorError as error:
            if attempt == ATTEMPTS:
                raise
            logger.warning("replica lost during %s (%s); asking another replica, attempt %d of %d", what, type(error).__name__, attempt + 1, ATTEMPTS)
    raise AssertionError("unreachable")
