"""Who may talk to the local API (DESIGN §7): the till's own pages and local tools, nobody else.

Two parts. :class:`Guard` is ASGI middleware that runs before any route: a ``Host`` other than
``127.0.0.1:PORT``, ``localhost:PORT`` or ``[::1]:PORT`` is refused (421: a DNS-rebound name
never reaches a route); a mutating request with a foreign ``Origin`` (``null`` included) or a
cross-site ``Sec-Fetch-Site`` is refused (403); a mutating body must be ``application/json``
(415) and no body may exceed 64 KiB (413: by its ``Content-Length`` before reading, and counted
while reading a chunked one). :class:`Access` tells a request's scope: the bearer token is every
scope; a paired page's session cookie is the scope it was paired for.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from posd.api.port import SessionStore
from posd.errors import PosdError, TooLarge

MAX_BODY = 64 * 1024
MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
SCOPES = ("display", "cashier", "tech")  # each may do what the ones before it may
COOKIE_PREFIX = "posd_"  # one cookie per scope: pairing the display never unpairs the cashier
SESSION_CACHE_S = 5.0  # a revoke (`posd pair --revoke`) bites within this


class Unauthorized(PosdError):
    code = "unauthorized"
    http_status = 401


class Forbidden(PosdError):
    code = "forbidden"
    http_status = 403


def cookie_name(scope: str) -> str:
    return COOKIE_PREFIX + scope


def rank(scope: str | None) -> int:
    """0 for no scope, then display < cashier < tech."""
    return SCOPES.index(scope) + 1 if scope in SCOPES else 0


def allowed_hosts(port: int) -> frozenset[str]:
    return frozenset(f"{host}:{port}" for host in ("127.0.0.1", "localhost", "[::1]"))


async def _refuse(send: Send, status: int, code: str, message: str, close: bool) -> None:
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    if close:  # the body was left unread: the connection cannot carry another request
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _drain(receive: Receive, limit: int) -> bool:
    """Read and drop a (bounded) request body, so the answer is not lost to a reset; True if
    it was read whole."""
    seen = 0
    while seen <= limit:
        message = await receive()
        if message["type"] != "http.request":
            return False
        seen += len(message.get("body", b""))
        if not message.get("more_body", False):
            return seen <= limit
    return False


class Guard:
    """Host allow-list, Origin / fetch-site check, JSON-only bodies, the body size bound."""

    def __init__(self, app: ASGIApp, port: int, max_body: int = MAX_BODY) -> None:
        self.app = app
        self.hosts = allowed_hosts(port)
        self.origins = frozenset(f"http://{host}" for host in self.hosts)
        self.max_body = max_body

    def _check(self, scope: Scope) -> tuple[int, str, str] | None:
        headers = Headers(scope=scope)
        mutating = scope["method"] in MUTATING
        return (
            self._check_host(headers)
            or (self._check_origin(headers) if mutating else None)
            or self._check_body(headers, mutating)
        )

    def _check_host(self, headers: Headers) -> tuple[int, str, str] | None:
        hosts = headers.getlist("host")
        if len(hosts) != 1 or hosts[0].lower() not in self.hosts:
            return (
                421,
                "misdirected_request",
                "this API answers only to 127.0.0.1, localhost or [::1] on its own port",
            )
        return None

    def _check_origin(self, headers: Headers) -> tuple[int, str, str] | None:
        """A mutating request's Origin and Sec-Fetch-Site."""
        if any(o.lower() not in self.origins for o in headers.getlist("origin")):
            return 403, "foreign_origin", "requests from other origins are refused"
        if headers.get("sec-fetch-site", "").lower() in ("cross-site", "same-site"):
            return 403, "cross_site", "cross-site requests are refused"
        return None

    def _check_body(self, headers: Headers, mutating: bool) -> tuple[int, str, str] | None:
        """The body's size bound and, on a mutating request, its JSON content type."""
        length = headers.get("content-length")
        chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        try:
            size = int(length) if length is not None else 0
        except ValueError:
            return 400, "bad_request", "Content-Length is not a number"
        if size > self.max_body:
            return 413, "too_large", f"request body over {self.max_body // 1024} KiB"
        if mutating and (size > 0 or chunked):
            ctype = headers.get("content-type", "").split(";", 1)[0].strip().lower()
            if ctype != "application/json":
                return 415, "unsupported_media_type", "request bodies must be application/json"
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refused = self._check(scope)
        if refused is not None:
            # a small body is read first: closing on unread bytes would reset the connection
            # and the client could lose this answer; an oversized one is never read
            whole = refused[0] != 413 and await _drain(receive, self.max_body)
            await _refuse(send, *refused, close=not whole)
            return
        seen = 0
        limit = self.max_body

        async def bounded() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:  # a chunked body: stop reading at the bound
                    raise TooLarge(f"request body over {limit // 1024} KiB")
            return message

        await self.app(scope, bounded, send)


class Access:
    """A request's scope: the bearer token (every scope) or a paired page's session cookie."""

    def __init__(self, token: str, sessions: SessionStore) -> None:
        self.token = token.encode()
        self.sessions = sessions
        self._cache: dict[str, tuple[str, float]] = {}

    def _session(self, value: str, key: str) -> str | None:
        """The scope of session cookie ``value`` (``key``: its SHA-256), cached a few seconds."""
        hit = self._cache.get(key)
        now = time.monotonic()
        if hit is not None and hit[1] > now:
            return hit[0]
        scope = self.sessions.scope_of(value)
        if scope is not None:
            if len(self._cache) > 256:
                self._cache.clear()
            self._cache[key] = (scope, now + SESSION_CACHE_S)
        return scope

    def who(self, request: Request) -> tuple[str | None, str]:
        """The caller's scope and, for a log, who it is without the secret: ``"token"`` for the
        bearer token, else the first 12 hex digits of the SHA-256 the sessions table keys the
        widest session by (``""`` for nobody)."""
        given = bearer(request)
        if given and hmac.compare_digest(given.encode(), self.token):
            return "tech", "token"
        best: tuple[str | None, str] = (None, "")
        for name in SCOPES:
            value = request.cookies.get(cookie_name(name))
            if value:
                key = hashlib.sha256(value.encode()).hexdigest()
                found = self._session(value, key)
                if rank(found) > rank(best[0]):
                    best = (found, key[:12])
        return best

    def scope(self, request: Request) -> str | None:
        return self.who(request)[0]

    def require(self, request: Request, needed: str) -> str:
        """The caller's scope if it covers ``needed``; else 401 (nobody) or 403 (too narrow)."""
        have = self.scope(request)
        if have is None:
            raise Unauthorized(
                "send Authorization: Bearer <token>, or pair this page: posd pair --scope " + needed
            )
        if rank(have) < rank(needed):
            raise Forbidden(f"this needs a {needed} session; this page is paired as {have}")
        return have


def bearer(request: Request) -> str | None:
    """The token after ``Authorization: Bearer``, or None when the request sends none."""
    header = request.headers.get("authorization", "")
    return header[7:].strip() if header[:7].lower() == "bearer " else None


def session_cookie(token: str, scope: str) -> dict[str, Any]:
    """Arguments for ``Response.set_cookie``: HttpOnly, SameSite=Strict, ~400 days (a kiosk)."""
    return {
        "key": cookie_name(scope),
        "value": token,
        "max_age": 400 * 24 * 3600,
        "path": "/",
        "httponly": True,
        "samesite": "strict",
    }
