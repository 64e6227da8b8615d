"""Serve's HTTP proxy, taught the API's manners: a Starlette middleware that runs in each proxy process.

Ray wraps each HTTP proxy it starts in the middlewares `middlewares()` returns when Ray starts with
RAY_SERVE_HTTP_PROXY_CALLBACK_IMPORT_PATH=capitals_qa.serving.proxy:middlewares (serving/defaults.RAY_ENV;
serving/ray_internals.py). It sees all that the proxy answers, Ray's own answers included:

- Ray's own errors are plain text: 404 while no application serves a path, 503 beyond `max_queued_requests`, 408
  past `request_timeout_s`, no answer at all (a bare 500 from uvicorn) when the ingress dies mid-request. Here
  each gets the API's JSON shape. A 404 before the application has answered once through this proxy is its start:
  a 503 `starting` with Retry-After, as the ingress answers while its model replicas start. Ray's 408 becomes a
  504, a time limit of the service like the ingress's own.
- Early refusals (goodput only, docs/operations.md "Overload"): after an overload 503 marked `X-Overloaded`,
  the next questions are refused here with the same answer (FullUntilAnswer) instead of costing the proxy's
  routing, a hop to the ingress and FastAPI there on the model's cores. Only credentials the API has accepted
  are refused here; others go on, to get their 401.

Imports nothing of Haystack or torch: the proxy starts before anything else can answer.
"""
import json
from typing import Dict, List, Optional, Set, Tuple

from ray.serve.metrics import Counter
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from capitals_qa.api import headers
from capitals_qa.api.errors import UNAVAILABLE_RETRY_AFTER_S
from capitals_qa.serving import ray_internals
from capitals_qa.serving.full_until_answer import FullUntilAnswer

STARTING_RETRY_AFTER_S = UNAVAILABLE_RETRY_AFTER_S  # as the ingress's own `starting` answer
BACKPRESSURE_RETRY_AFTER_S = 1
MAX_ACCEPTED_CREDENTIALS = 256
OVERLOADED = headers.OVERLOADED.lower().encode()

Headers = List[Tuple[bytes, bytes]]
Credentials = Tuple[Optional[bytes], Optional[bytes]]


def middlewares() -> List[Middleware]:
    return [Middleware(ServiceAnswers)]


def question_route(scope: Scope) -> Optional[str]:
    """The application route a POST goes to, `/query` and a trailing slash aside: a question's `/` and `/query`
    share one memory. Only routes whose answers said 'overloaded' ever refuse here."""
    if scope["method"] != "POST":
        return None
    path = scope["path"].rstrip("/")
    return path.removesuffix("/query") or "/"


class ServiceAnswers:
    def __init__(self, app: ASGIApp):
        self.app = app
        self.app_answered = False  # whether an application has answered through this proxy yet
        self.accepted: Set[Credentials] = set()  # credentials of POSTs the API answered with something else than 401
        self.full: Dict[str, FullUntilAnswer[bytes]] = {}  # by question route; dropped when idle
        self.refusals = Counter(
            "capitals_qa_proxy_refusals",
            description="Questions Serve's proxy refused itself (JSON 503) while the service was overloaded.",
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/-/"):  # Ray's own routes (/-/healthz, /-/routes)
            await self.app(scope, receive, send)
            return
        request_headers = dict(scope["headers"])
        credentials = (request_headers.get(b"authorization"), request_headers.get(b"x-api-key"))
        route = question_route(scope)
        full = self.full.setdefault(route, FullUntilAnswer()) if route else None
        if full is not None and credentials in self.accepted and (refused := full.refusal()):
            body, left_s = refused
            self.refusals.inc()
            await send_json(send, 503, body, [(b"retry-after", str(left_s).encode()), (OVERLOADED, b"1")])
            self._forget_if_idle(route)
            return
        answer = Answer(send, self)
        try:
            if full is None:
                await self.app(scope, receive, answer.send)
            else:
                with full.sent():
                    await self.app(scope, receive, answer.send)
        except Exception:
            await answer.no_answer()
            raise
        await answer.no_answer()
        if route is not None and answer.from_app:  # a POST: the API checks credentials on every one
            self._note_credentials(credentials, answer.status)
        if full is not None and answer.overloaded_body is not None:
            full.saw(bytes(answer.overloaded_body), answer.retry_after_s)
        self._forget_if_idle(route)

    def ray_error(self, status: int, text: str) -> Tuple[int, str, Headers]:
        """What a client gets for Ray's plain-text error: status, message, extra headers."""
        if status == 404 and not self.app_answered:
            return 503, f"starting: no application answers here yet (Ray Serve: {text})", [(b"retry-after", str(STARTING_RETRY_AFTER_S).encode())]
        if status == 408:
            return 504, text, []
        if status == 503:
            return 503, text, [(b"retry-after", str(BACKPRESSURE_RETRY_AFTER_S).encode())]
        return status, text, []

    def _note_credentials(self, credentials: Credentials, status: int) -> None:
        if status == 401:  # the key may have changed: every client proves itself to the API again
            self.accepted.clear()
            return
        if len(self.accepted) >= MAX_ACCEPTED_CREDENTIALS:
            self.accepted.clear()
        self.accepted.add(credentials)

    def _forget_if_idle(self, route: Optional[str]) -> None:
        if route is not None and route in self.full and self.full[route].idle:
            del self.full[route]


class Answer:
    """Passes an answer on to the client: Ray's plain-text errors as JSON, and notes an 'overloaded' one."""

    def __init__(self, send: Send, proxy: ServiceAnswers):
        self._send = send
        self._proxy = proxy
        self.status: Optional[int] = None
        self.from_app = False
        self.overloaded_body: Optional[bytearray] = None
        self.retry_after_s = 1
        self._ray_start: Optional[Message] = None
        self._ray_text = bytearray()

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            response_headers = dict(message.get("headers", []))
            if ray_internals.is_rays_own_error(self.status, response_headers):
                self._ray_start = message
                return
            self.from_app = self._proxy.app_answered = True
            if self.status == 503 and response_headers.get(OVERLOADED) == b"1":
                self.overloaded_body = bytearray()
                self.retry_after_s = int(response_headers.get(b"retry-after", b"1"))
        elif message["type"] == "http.response.body":
            body = message.get("body", b"")
            if self._ray_start is not None:
                self._ray_text += body
                if not message.get("more_body", False):
                    await self._send_ray_error()
                return
            if self.overloaded_body is not None:
                self.overloaded_body += body
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
