"""The API's errors: what a client gets for each, in one JSON shape, `{"errors": [...]}`.

Plain exceptions (no FastAPI): the model replicas raise them too.
"""
from typing import Dict

from capitals_qa.api.schemas import ErrorResponse


class RequestError(Exception):
    """A request the API answers with `status` and these messages (4xx, or a 503/504 of the service's limits)."""

    def __init__(self, status: int, *messages: str):
        super().__init__("; ".join(messages))
        self.status = status
        self.messages = list(messages)

    def __reduce__(self):
        # Rebuilt from its own arguments when it crosses processes (from a model replica to the ingress).
        return (type(self), (self.status, *self.messages))


class Overloaded(RequestError):
    """The service cannot take a question now (too many waiting, or it would wait too long): a 503 at once with
    Retry-After, metered as `overloaded`."""

    def __init__(self, reason: str, retry_after_s: int):
        super().__init__(503, reason)
        self.retry_after_s = max(1, retry_after_s)

    def __reduce__(self):
        return (Overloaded, (self.messages[0], self.retry_after_s))


class Unavailable(Exception):
    """The service cannot answer at all now (its document store or a node is down, or it is starting): a 503
    naming the reasons."""

    def __init__(self, *reasons: str):
        super().__init__("; ".join(reasons))
        self.reasons = list(reasons)

    def __reduce__(self):
        return (Unavailable, tuple(self.reasons))


# Seconds a client told Unavailable waits before trying again: a store or a model replica comes back in seconds.
UNAVAILABLE_RETRY_AFTER_S = 5


def root_cause(error: BaseException) -> BaseException:
    """The first error of a chain: Haystack's Pipeline.run wraps a node's error in a plain Exception."""
    while error.__cause__ is not None and error.__cause__ is not error:
        error = error.__cause__
    return error


# The error bodies routes declare in /openapi.json.
ERROR_RESPONSES: Dict[int, dict] = {status: {"model": ErrorResponse} for status in (400, 413, 422, 503, 504)}
