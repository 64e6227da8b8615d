"""Serve's HTTP proxy, taught the API's manners: a Starlette middleware that runs in each proxy process.

Ray wraps each HTTP proxy it starts in the middlewares `middlewares()` returns when Ray starts with
RAY_SERVE_HTTP_PROXY_CALLBACK_IMPORT_PATH=capitals_qa.serving.proxy:middlewares (serving/defaults.RAY_ENV;
serving/ray_internals.py). It sees all that the proxy answers, Ray's own answers included.

Ray's own errors are plain text: 404 while no application serves a path, 503 beyond `max_queued_requests`, 408 past
`request_timeout_s`, no answer at all (a bare 500 from uvicorn) when the ingress dies mid-request. Here each gets the
API's JSON shape. A 404 before the application has answered once through this proxy is its start: a 503 `starting`
with Retry-After, as the ingress answers while its model replicas start. Ray's 408 becomes a 504, a time limit of the
service like the ingress's own. Everything else passes as the application answered it.

Imports nothing of Haystack or torch: the proxy starts before anything else can answer.
"""
import json
from typing import List, Optional, Tuple

from starlette.middleware import Middleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from capitals_qa.api.errors import UNAVAILABLE_RETRY_AFTER_S
from capitals_qa.serving import ray_internals

STARTING_RETRY_AFTER_S = UNAVAILABLE_RETRY_AFTER_S  # as the ingress's own `starting` answer
BACKPRESSURE_RETRY_AFTER_S = 1

Headers = List[Tuple[bytes, bytes]]


def middlewares() -> List[Middleware]:
    return [Middleware(ServiceAnswers)]


class ServiceAnswers:
    def __init__(self, app: ASGIApp):
        self.app = app
        self.app_answered = False  # whether an application has answered through this proxy yet

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/-/"):  # Ray's own routes (/-/healthz, /-/routes)
            await self.app(scope, receive, send)
            return
        answer = Answer(send, self)
        try:
            await self.app(scope, receive, answer.send)
        except Exception:
            await answer.no_answer()
            raise
        await answer.no_answer()

    def ray_error(self, status: int, text: str) -> Tuple[int, str, Headers]:
        """What a client gets for Ray's plain-text error: status, message, extra headers."""
        if status == 404 and not self.app_answered:
            return 503, f"starting: no application answers here yet (Ray Serve: {text})", [(b"retry-after", str(STARTING_RETRY_AFTER_S).encode())]
        if status == 408:
            return 504, text, []
        if status == 503:
            return 503, text, [(b"retry-after", str(BACKPRESSURE_RETRY_AFTER_S).encode())]
        return status, text, []


class Answer:
    """Passes an answer on to the client, Ray's plain-text errors as JSON."""

    def __init__(self, send: Send, proxy: ServiceAnswers):
        self._send = send
        self._proxy = proxy
        self.status: Optional[int] = None
        self._ray_start: Optional[Message] = None
        self._ray_text = bytearray()

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            if ray_internals.is_rays_own_error(self.status, dict(message.get("headers", []))):
                self._ray_start = message
                return
            self._proxy.app_answered = True
        elif message["type"] == "http.response.body" and self._ray_start is not None:
            self._ray_text += message.get("body", b"")
            if not message.get("more_body", False):
                await self._send_ray_error()
            return
        await self._send(message)

    async def no_answer(self) -> None:
        """When Ray gave up without a word (uvicorn would send a plain-text 500): still JSON."""
        if self.status is None:
            self.status = 500
            await send_json(self._send, 500, errors_body("the request failed inside Ray Serve before any answer (see the proxy's log)"))

    async def _send_ray_error(self) -> None:
        status, message, extra = self._proxy.ray_error(self.status, self._ray_text.decode(errors="replace").strip())
        kept = [(name, value) for name, value in self._ray_start.get("headers", []) if name not in (b"content-type", b"content-length")]
        await send_json(self._send, status, errors_body(message), kept + extra)


def errors_body(message: str) -> bytes:
    return json.dumps({"errors": [message]}).encode()


async def send_json(send: Send, status: int, body: bytes, extra_headers: Headers = ()) -> None:
    response_headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *extra_headers]
    await send({"type": "http.response.start", "status": status, "headers": response_headers})
    await send({"type": "http.response.body", "body": body})
