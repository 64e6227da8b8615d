"""Refusals (a full queue, a store that cannot be read) cross from a model replica to the ingress as values.

Raised in a replica, each one would cost that replica a logged traceback (Serve's "Request failed.") and Ray
an error wrapped with its traceback text, on the cores the model runs on, at every refused question: under
overload most questions are refused, and that work came out of the answered ones. Returned, it is one small
pickled object; the ingress raises it there, where the API turns it into a JSON 503.
"""
import math
import time
from contextlib import contextmanager
from typing import Iterator, Optional, TypeVar, Union

from ray.serve.schema import LoggingConfig

from capitals_qa.api.backend import Overloaded, Unavailable

Refusal = Union[Overloaded, Unavailable]
T = TypeVar("T")

# Deployments that only the ingress calls: the ingress logs one line per question (request id, latency,
# outcome), so Serve's access line per call there would repeat it, at a cost on the model's cores.
ACCESS_LOG_OFF = LoggingConfig(enable_access_log=False)


def raise_refusal(result: Union[T, Refusal]) -> T:
    """The replica's result, or its refusal raised here."""
    if isinstance(result, (Overloaded, Unavailable)):
        raise result
    return result


class FullUntilAnswer:
    """The ingress's memory of the Pipeline deployment's last 'overloaded': while no question the ingress sent
    has come back since, the replicas are as full as when they refused, so the next question is refused here.

    Under overload most questions are refused; sent to a replica, each refusal costs a handle call, a hop and
    the replica's event loop, on the cores the model runs on. Refused here it costs neither. A question coming
    back frees room, and the next question goes to a replica again, which decides (it alone knows its queue);
    so does any question after `retry_after_s`, in case nothing comes back for long (a new replica, a slow one).
    """

    def __init__(self) -> None:
        self.in_replicas = 0  # questions this ingress has sent and not had back
        self._full_at: Optional[int] = None  # in_replicas when a replica last refused
        self._refusal: Optional[Overloaded] = None
        self._until = 0.0

    def check(self) -> None:
        """Raises the last refusal again, with the time left as Retry-After, while nothing has come back since."""
        if self._refusal is None:
            return
        left_s = self._until - time.monotonic()
        if self.in_replicas >= self._full_at and left_s > 0:
            raise Overloaded(self._refusal.messages[0], math.ceil(left_s))
        self._refusal = None

    @contextmanager
    def sent(self) -> Iterator[None]:
        self.in_replicas += 1
        try:
            yield
        finally:
            self.in_replicas -= 1

    def saw(self, result: object) -> None:
        """Remembers a replica's Overloaded (the result of a question just back)."""
        if isinstance(result, Overloaded):
            self._refusal, self._full_at = result, self.in_replicas
            self._until = time.monotonic() + result.retry_after_s
