"""Refusals (a full queue, a store that cannot be read) cross from a model replica to the ingress as values.

Raised in a replica, each one would cost that replica a logged traceback (Serve's "Request failed.") and Ray
an error wrapped with its traceback text, on the cores the model runs on, at every refused question: under
overload most questions are refused, and that work came out of the answered ones. Returned, it is one small
pickled object; the ingress raises it there, where the API turns it into a JSON 503.
"""
from typing import TypeVar, Union

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
