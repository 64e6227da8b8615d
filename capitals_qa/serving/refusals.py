"""Refusals (a full queue, a store that cannot be read) cross from a model replica to the ingress as values.

Raised in a replica, each would cost that replica a logged traceback and Ray an error wrapped with its traceback
text, on the cores the model runs on, at every refused question; returned, it is one small pickled object, raised
again in the ingress, where the API turns it into a JSON 503.
"""
from typing import TypeVar, Union

from capitals_qa.api.errors import Overloaded, Unavailable

Refusal = Union[Overloaded, Unavailable]
T = TypeVar("T")


def raise_refusal(result: Union[T, Refusal]) -> T:
    """The replica's result, or its refusal raised here."""
    if isinstance(result, (Overloaded, Unavailable)):
        raise result
    return result
