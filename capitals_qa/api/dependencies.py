"""What every route asks of a request: the served backend and limits, and the request's id."""
import uuid

from fastapi import Request

from capitals_qa.api.backend import Served


def served(request: Request) -> Served:
    """What this replica serves, asked at each request (see `create_api`)."""
    return request.app.state.served()


def request_id(request: Request) -> str:
    """Serve's proxy gives every request an `x-request-id` (the client's own, if it sent one)."""
    return request.headers.get("x-request-id") or uuid.uuid4().hex
