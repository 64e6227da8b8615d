"""Who may call the API: an optional API key on every route but the health checks, writes closed where anyone on the
network could reach them without a key, and CORS for browsers."""
import hmac
from dataclasses import dataclass
from typing import Optional, Tuple

from starlette.middleware.cors import CORSMiddleware
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

# Load balancers and Serve's own checks call these without credentials.
OPEN_PATHS = frozenset({"/health", "/initialized"})
# The routes that change what the service holds: documents (uploads, deletes) and feedback labels.
WRITES = frozenset({("POST", "/file-upload"), ("POST", "/documents/delete_by_filters"), ("POST", "/feedback"), ("DELETE", "/feedback")})


@dataclass(frozen=True)
class Access:
    """`api_key`: None lets everyone in. `writes_open`: whether the routes that change data (WRITES) answer at all;
    with an API key they answer its holders. `cors_origins`: the browser origins allowed to call (none: CORS off)."""

    api_key: Optional[str] = None
    cors_origins: Tuple[str, ...] = ()
    writes_open: bool = True

    def __repr__(self) -> str:  # the key stays out of logs and tracebacks
        return f"Access(api_key={'set' if self.api_key else None}, cors_origins={self.cors_origins}, writes_open={self.writes_open})"


def writes_open(api_key: Optional[str], open_writes: bool, listens_on: str) -> bool:
    """Writes answer key holders where there is a key; without one, only a service that loopback alone reaches, or
    one whose operator opened them (OPEN_WRITES)."""
    return bool(api_key) or open_writes or is_loopback(listens_on)


def is_loopback(host: str) -> bool:
    return host in ("localhost", "::1") or host.startswith("127.")


def route_path(scope: Scope) -> str:
    """The path as the app's routes name it: an application under a Serve route prefix sees that prefix in `path`
    (and again in `root_path`), so a route's own path is what follows it."""
    path, prefix = scope["path"], scope.get("root_path", "")
    return (path[len(prefix):] or "/") if prefix and path.startswith(prefix) else path


def presented_key(headers: dict) -> Optional[str]:
    """The key a request carries: `Authorization: Bearer <key>` or `X-API-Key: <key>`."""
    scheme, _, credentials = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return headers.get("x-api-key")


def key_matches(presented: Optional[str], expected: str) -> bool:
    # Constant time, so the time to answer tells nothing about how much of a guess was right.
    return presented is not None and hmac.compare_digest(presented.encode(), expected.encode())


class AccessControl:
    """ASGI middleware applying the `Access` that `access()` returns, read when the first request arrives.

    A Serve replica builds its app before its own settings can be reached, so the middleware cannot be
    configured when the app is created.
    """

    def __init__(self, app: ASGIApp, access):
        self.app = app
        self.access = access
        self._built_for: Optional[Access] = None
        self._inner: ASGIApp = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        access = self.access()
        if access != self._built_for:
            self._inner, self._built_for = self._build(access), access
        await self._inner(scope, receive, send)

    def _build(self, access: Access) -> ASGIApp:
        inner = self.app
        if not access.writes_open:
            inner = _ClosedWrites(inner)
        if access.api_key:
            inner = _RequireKey(inner, access.api_key)
        if access.cors_origins:
            # Outside the key check: a browser's preflight (OPTIONS) carries no credentials.
            inner = CORSMiddleware(inner, allow_origins=list(access.cors_origins), allow_methods=["GET", "POST"],
                                   allow_headers=["Authorization", "X-API-Key", "Content-Type"])
        return inner


class _RequireKey:
    def __init__(self, app: ASGIApp, api_key: str):
        self.app = app
        self.api_key = api_key

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if route_path(scope) not in OPEN_PATHS:
            headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]}
            if not key_matches(presented_key(headers), self.api_key):
                response = JSONResponse(
                    {"errors": ["this service needs an API key: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'"]},
                    status_code=401, headers={"WWW-Authenticate": 'Bearer realm="capitals-qa"'},
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class _ClosedWrites:
    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["method"], route_path(scope)) in WRITES:
            response = JSONResponse({"errors": [
                "writes are closed: this service listens beyond this machine and has no API key, so anyone who reaches it "
                "could change its documents and feedback; set API_KEY (writes then need it), or OPEN_WRITES=true to open "
                "them to anyone"]}, status_code=403)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
