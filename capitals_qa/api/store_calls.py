"""Calling the backend's store methods: what their failures mean for a client."""
from typing import Awaitable, TypeVar

from capitals_qa.api.errors import RequestError, root_cause

T = TypeVar("T")


async def store_call(call: Awaitable[T]) -> T:
    try:
        return await call
    except Exception as error:
        cause = root_cause(error)
        if isinstance(cause, NotImplementedError):
            raise RequestError(501, f"{cause} is not available in this deployment") from error
        # Bad filters, parameters a node refuses: the request's fault.
        if isinstance(cause, (ValueError, TypeError)):
            raise RequestError(400, str(cause)) from error
        raise
