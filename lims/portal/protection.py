"""The portal's defences: sessions, CSRF tokens, rate limits, body limits, security headers.

Sessions live in the portal process only (a random id in an HttpOnly,
SameSite=Strict cookie; nothing about the session is in the cookie itself), so
a restart logs everyone out and nothing has to be written to the lab's database.
CSRF tokens are the double-submit kind, signed with a key drawn at start-up.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lims.portal.config import RateLimit

__all__ = [
    "CONTENT_SECURITY_POLICY",
    "BodyLimitMiddleware",
    "CsrfSigner",
    "RateLimiter",
    "SecurityHeadersMiddleware",
    "SessionStore",
    "WebSession",
]

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self'; font-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)


@dataclass
class WebSession:
    """A logged-in browser: which account, since when, last seen when."""

    account_id: int
    created: float
    seen: float


class SessionStore:
    """Sessions of this process, bounded in number and in time."""

    def __init__(
        self,
        idle_seconds: int,
        max_seconds: int,
        capacity: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._clock = clock
        self._idle = idle_seconds
        self._max = max_seconds
        self._capacity = capacity
        self._sessions: OrderedDict[str, WebSession] = OrderedDict()
        self._lock = threading.Lock()

    def create(self, account_id: int) -> str:
        """A new session id for the account (a fresh id at every login)."""
        sid = secrets.token_urlsafe(32)
        now = self._clock()
        with self._lock:
            self._sessions[sid] = WebSession(account_id, now, now)
            while len(self._sessions) > self._capacity:
                self._sessions.popitem(last=False)
        return sid

    def get(self, sid: str | None) -> WebSession | None:
        """The live session of ``sid`` (expired ones are dropped)."""
        if not sid:
            return None
        now = self._clock()
        with self._lock:
            session = self._sessions.get(sid)
            if session is None:
                return None
            if now - session.seen > self._idle or now - session.created > self._max:
                del self._sessions[sid]
                return None
            session.seen = now
            self._sessions.move_to_end(sid)
            return session

    def drop(self, sid: str | None) -> None:
        """End a session (logout, or its account can no longer log in)."""
        if sid:
            with self._lock:
                self._sessions.pop(sid, None)


class CsrfSigner:
    """Double-submit CSRF tokens: a random value and its HMAC with this process's key."""

    def __init__(self, key: bytes | None = None) -> None:
        self._key = key or secrets.token_bytes(32)

    def _mac(self, nonce: str) -> str:
        return hmac.new(self._key, nonce.encode("ascii"), hashlib.sha256).hexdigest()[:32]

    def new(self) -> str:
        """A fresh token (for the cookie and for the form field)."""
        nonce = secrets.token_urlsafe(18)
        return f"{nonce}.{self._mac(nonce)}"

    def valid(self, token: str | None) -> bool:
        """Whether the token was made by this process."""
        if not token or token.count(".") != 1 or len(token) > 100:
            return False
        nonce, mac = token.split(".")
        try:
            return hmac.compare_digest(mac, self._mac(nonce))
        except (TypeError, UnicodeEncodeError):
            return False

    def matches(self, cookie: str | None, submitted: str | None) -> bool:
        """The form's token equals the cookie's, and both are this process's."""
        if not cookie or not submitted:
            return False
        return hmac.compare_digest(cookie.encode(), submitted.encode()) and self.valid(cookie)


class RateLimiter:
    """A sliding-window count of requests per key (client address, account name, token)."""

    def __init__(self, limit: RateLimit, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self._clock = clock
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str) -> float | None:
        """Count a request; None when allowed, else the seconds until one is allowed again."""
        if not self.limit.enabled:
            return None
        now = self._clock()
        window = self.limit.seconds
        with self._lock:
            hits = self._hits.setdefault(key, deque())
            while hits and now - hits[0] >= window:
                hits.popleft()
            if len(hits) >= self.limit.count:
                return max(0.0, window - (now - hits[0]))
            hits.append(now)
            if len(self._hits) > 100_000:  # forget idle clients
                for k in [k for k, v in self._hits.items() if not v]:
                    del self._hits[k]
            return None


class SecurityHeadersMiddleware:
    """Adds the security headers to every response."""

    def __init__(self, app: ASGIApp, *, hsts: bool) -> None:
        self.app = app
        self.headers = [
            (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
            (b"x-content-type-options", b"nosniff"),
            (b"x-frame-options", b"DENY"),
            (b"referrer-policy", b"same-origin"),
            (b"cross-origin-opener-policy", b"same-origin"),
            (b"cross-origin-resource-policy", b"same-origin"),
            (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=()"),
        ]
        if hsts:
            self.headers.append((b"strict-transport-security", b"max-age=31536000"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(n, v) for n, v in self.headers if n not in present]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, with_headers)


class BodyTooLargeError(Exception):
    """A request body above the limit for its path."""


class BodyLimitMiddleware:
    """Refuses request bodies above a limit (413), checked before and while reading."""

    def __init__(
        self, app: ASGIApp, *, default_limit: int, limits: dict[str, int] | None = None
    ) -> None:
        self.app = app
        self.default_limit = default_limit
        self.limits = limits or {}

    def _limit(self, path: str) -> int:
        return self.limits.get(path, self.default_limit)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit(str(scope.get("path", "")))
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    too_big = int(value) > limit
                except ValueError:
                    too_big = True
                if too_big:
                    await _refuse_413(send, limit)
                    return
        received = 0
        started = False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLargeError
            return message

        async def tracking(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, tracking)
        except BodyTooLargeError:
            if not started:
                await _refuse_413(send, limit)


async def _refuse_413(send: Send, limit: int) -> None:
    body = (
        f"请求过大 Request too large: at most {limit // 1024} KiB are accepted here.\n"
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
