"""Calls from the ingress to other deployments that survive a replica's death.

A replica that dies while it holds questions (SIGKILL, out of memory, its node gone) fails them with a
RayActorError in the caller: ActorDiedError once Ray knows the actor is dead, ActorUnavailableError while it
cannot tell. Serve's router has by then stopped sending to that replica, and a question is idempotent (it only
reads the store), so the caller asks again and the next replica answers. Errors raised by the pipeline itself
arrive wrapped in a RayTaskError: they are raised here as the pipeline raised them, and never retried.
"""
import logging
from typing import Awaitable, Callable, TypeVar

from ray.exceptions import RayActorError, RayTaskError

from capitals_qa.serving import ray_internals

logger = logging.getLogger("ray.serve")

T = TypeVar("T")

# One death is the common case; a node that takes several replicas with it may need a second retry.
ATTEMPTS = 3


async def call_replica(call: Callable[[], Awaitable[T]], what: str, attempts: int = ATTEMPTS) -> T:
    """`await call()`, again (a fresh handle call) whenever the replica that held it died or went unreachable,
    up to `attempts` calls in all."""
    for attempt in range(1, attempts + 1):
        try:
            return await call()
        except RayTaskError as error:
            raise ray_internals.cause_of(error) from None
        except RayActorError as error:
            if attempt == attempts:
                raise
            logger.warning("replica lost during %s (%s); asking another replica, attempt %d of %d", what, type(error).__name__, attempt + 1, attempts)
    raise AssertionError("unreachable")
