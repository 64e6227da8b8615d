"""Who may call the API: an optional API key on every route but the health checks, and CORS for browsers."""
import hmac
from dataclasses import dataclass
from typing import Optional, Tuple

from starlette.middleware.cors import CORSMiddleware
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

# Load balancers and Serve's own checks call these without credentials.
OPEN_PATHS = frozenset({"/health", "/initialized"})


@dataclass(frozen=True)
class Access:
    """`api_key`: None lets everyone in. `cors_origins`: the browser origins allowed to call (none: CORS off)."""

    api_key: Optional[str] = None
    cors_origins: Tuple[str, ...] = ()

    def __repr__(self) -> str:  # the key stays out of logs and tracebacks
        return f"Access(api_key={'set' if self.api_key else None}, cors_origins={self.cors_origins})"


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
        if scope["path"] not in OPEN_PATHS:
            headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]}
            if not key_matches(presented_key(headers), self.api_key):
                response = JSONResponse(
                    {"errors": ["this service needs an API key: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'"]},
                    status_code=401, headers={"WWW-Authenticate": 'Bearer realm="capitals-qa"'},
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
