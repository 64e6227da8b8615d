"""Early refusals: a memory of the service's last 'overloaded', kept in the ingress, so that the next questions are
refused there without a trip to a model replica (goodput only: docs/operations.md, "Overload").

While no question sent on has come back since a refusal, the replicas are as full as when they refused, so the
next question is refused with the same answer. A question coming back frees room, and the next question goes on
again, to the replica that decides (it alone knows its queue); so does any question after the refusal's
Retry-After, in case nothing comes back for long (a new replica, a slow one).
"""
import math
import time
from contextlib import contextmanager
from typing import Generic, Iterator, Optional, Tuple, TypeVar

R = TypeVar("R")  # what is answered again: the Overloaded the replica answered


class FullUntilAnswer(Generic[R]):
    def __init__(self) -> None:
        self.in_flight = 0  # questions sent on and not back yet
        self._full_at = 0  # in_flight when the refusal came back
        self._refusal: Optional[R] = None
        self._until = 0.0

    def refusal(self) -> Optional[Tuple[R, int]]:
        """The last refusal and the seconds left of its Retry-After, while nothing has come back since it."""
        if self._refusal is None:
            return None
        left_s = self._until - time.monotonic()
        if self.in_flight >= self._full_at and left_s > 0:
            return self._refusal, math.ceil(left_s)
        self._refusal = None
        return None

    @contextmanager
    def sent(self) -> Iterator[None]:
        self.in_flight += 1
        try:
            yield
        finally:
            self.in_flight -= 1

    def saw(self, refusal: R, retry_after_s: float) -> None:
        """A question just came back refused: remember it (call it after its `sent()` block)."""
        self._refusal, self._full_at = refusal, self.in_flight
        self._until = time.monotonic() + retry_after_s

    @property
    def idle(self) -> bool:
        """Nothing in flight and nothing remembered: the memory can be dropped."""
        return self.in_flight == 0 and self.refusal() is None
