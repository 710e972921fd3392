"""What the server exposes to browsers and busy clients: CORS, security headers, caching rules, rate limit.

- CORS only for the configured origins (NETZATLAS_CORS_ORIGINS); by default none, i.e. same origin only.
- Every response: `X-Content-Type-Options: nosniff`, a Referrer-Policy, no framing; HTML pages get a
  Content-Security-Policy that allows the app's own scripts, styles, images and MapLibre's blob: workers.
- Responses depend on the caller's key, so they carry `Vary: Authorization, X-API-Key`, and a response to a
  request with a key is `Cache-Control: private`: a shared cache must never hand one caller's rows to another.
- A token bucket per API key and per anonymous client address (429 with Retry-After). Requests whose key is
  refused are also charged to their address, so guessing keys cannot bypass the limit.

All of it is plain ASGI middleware: the items route stays a plain Starlette route without per-request
FastAPI machinery, and the limiter is a dict lookup and some arithmetic.
"""

from __future__ import annotations

import math
import re
import time
from urllib.parse import urlsplit

from fastapi import FastAPI
from starlette.datastructures import MutableHeaders
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from netzatlas.api.auth import BadCredentials, key_from_headers
from netzatlas.api.errors import error_response
from netzatlas.config import Settings
from netzatlas.private import secure_home
from netzatlas.registry.keys import prefix_of

CALLER_HEADERS = "Authorization, X-API-Key"
# Methods and request headers a configured origin's pages may use (Part 4 writes, conditional requests).
CORS_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
CORS_HEADERS = ["Authorization", "X-API-Key", "Content-Type", "Content-Crs", "If-Match", "If-None-Match", "Prefer"]
CORS_EXPOSE = ["ETag", "Content-Crs", "Location", "Retry-After"]


def _origin(url: str | None) -> str | None:
    """The CSP source of a URL template such as https://{s}.tile.example.org/{z}/{x}/{y}.png."""
    if not url:
        return None
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return None
    return f"{parts.scheme}://{re.sub(r'{[^}]*}', '*', parts.netloc)}"


def html_policy(settings: Settings) -> str:
    """CSP of the HTML pages: everything from this application only, MapLibre's workers from blob: URLs and
    its images from data:/blob: URLs, plus the optional raster basemap's origin."""
    extra = _origin(settings.basemap_url)
    more = f" {extra}" if extra else ""
    return "; ".join(
        (
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            f"img-src 'self' data: blob:{more}",
            f"connect-src 'self'{more}",
            "worker-src 'self' blob:",
            "child-src 'self' blob:",
            "font-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        )
    )


# Anything that is not a page (JSON, tiles, images, files) runs nothing and is framed nowhere.
OTHER_POLICY = "default-src 'none'; frame-ancestors 'none'"


def _presented(scope: Scope) -> tuple[str | None, str | None]:
    """The Authorization and X-API-Key request headers (raw ASGI headers, no parsing of the rest)."""
    auth = api_key = None
    for name, value in scope["headers"]:
        if name == b"authorization":
            auth = value.decode("latin-1")
        elif name == b"x-api-key":
            api_key = value.decode("latin-1")
    return auth, api_key


def _private(cache_control: str | None) -> str:
    directives = [d.strip() for d in (cache_control or "").split(",") if d.strip() and d.strip().lower() != "public"]
    if not any(d.lower() == "private" for d in directives):
        directives.insert(0, "private")
    return ", ".join(directives)


class SecurityHeaders:
    def __init__(self, app: ASGIApp, page_policy: str) -> None:
        self.app = app
        self.page_policy = page_policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        auth, api_key = _presented(scope)
        keyed = bool(auth or api_key)
        static = scope["path"].startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                h = MutableHeaders(scope=message)
                h.setdefault("X-Content-Type-Options", "nosniff")
                h.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
                h.setdefault("X-Frame-Options", "DENY")
                html = h.get("content-type", "").startswith("text/html")
                h.setdefault("Content-Security-Policy", self.page_policy if html else OTHER_POLICY)
                if not static:
                    h.add_vary_header(CALLER_HEADERS)
                if keyed:
                    h["Cache-Control"] = _private(h.get("cache-control"))
            await send(message)

        await self.app(scope, receive, send_with_headers)


class TokenBuckets:
    """Requests per second with bursts, per identity; one dict in this process (not shared between workers)."""

    MAX_ENTRIES = 50_000

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = float(burst)
        self._b: dict[str, list[float]] = {}  # identity -> [tokens, last refill time]

    def _bucket(self, ident: str, now: float) -> list[float]:
        b = self._b.get(ident)
        if b is None:
            if len(self._b) >= self.MAX_ENTRIES:
                self._prune(now)
            b = self._b[ident] = [self.burst, now]
        elif b[1] != now:
            b[0] = min(self.burst, b[0] + (now - b[1]) * self.rate)
            b[1] = now
        return b

    def _prune(self, now: float) -> None:
        """Forget buckets that have refilled (they would start full anyway); bounded memory under a flood."""
        full = self.burst / self.rate
        self._b = {k: b for k, b in self._b.items() if now - b[1] < full}
        if len(self._b) >= self.MAX_ENTRIES:
            self._b.clear()

    def wait(self, ident: str, now: float) -> float:
        """0 when a token is there, else the seconds until there is one (nothing taken)."""
        b = self._bucket(ident, now)
        return 0.0 if b[0] >= 1 else (1 - b[0]) / self.rate

    def take(self, ident: str, now: float) -> float:
        """Take a token: 0 when one was there, else the seconds until there is one."""
        b = self._bucket(ident, now)
        if b[0] >= 1:
            b[0] -= 1
            return 0.0
        return (1 - b[0]) / self.rate


class RateLimit:
    def __init__(self, app: ASGIApp, rate: float, burst: int) -> None:
        self.app = app
        self.buckets = TokenBuckets(rate, burst)
        self.failures = TokenBuckets(rate, burst)  # refused keys, per client address
        self.rate = rate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        address = client[0] if client else "unknown"
        auth, api_key = _presented(scope)
        keyed = bool(auth or api_key)
        ident = f"addr:{address}"
        if keyed:
            try:
                key, _ = key_from_headers(auth, api_key)
            except BadCredentials:
                key = None
            prefix = prefix_of(key) if key else None
            if prefix:
                ident = f"key:{prefix}"
        now = time.monotonic()
        wait = self.failures.wait(address, now) if keyed else 0.0
        if not wait:
            wait = self.buckets.take(ident, now)
        if wait:
            who = "API key" if ident.startswith("key:") else "client address"
            await error_response(
                429,
                "TooManyRequests",
                f"more than {self.rate:g} requests per second for this {who}; retry after the time in Retry-After",
                {"Retry-After": str(max(1, math.ceil(wait)))},
            )(scope, receive, send)
            return
        if not keyed:
            await self.app(scope, receive, send)
            return

        async def send_counting_refusals(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 401:
                self.failures.take(address, time.monotonic())
            await send(message)

        await self.app(scope, receive, send_counting_refusals)


def install(app: FastAPI, settings: Settings) -> None:
    """Add the middleware (call after every other add_middleware: these wrap the rest)."""
    secure_home(settings.home)
    if settings.rate_limit > 0:
        burst = settings.rate_burst or max(1, math.ceil(2 * settings.rate_limit))
        app.add_middleware(RateLimit, rate=settings.rate_limit, burst=burst)
    origins = settings.cors_origin_list
    if origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=CORS_METHODS,
            allow_headers=CORS_HEADERS,
            expose_headers=CORS_EXPOSE,
            max_age=600,
        )
    app.add_middleware(SecurityHeaders, page_policy=html_policy(settings))
