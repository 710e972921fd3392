"""Who is calling: API keys from `Authorization: Bearer` or `X-API-Key`, and what they may see."""

from __future__ import annotations

import time

from fastapi import Request

from netzatlas.api.errors import ApiError
from netzatlas.registry.keys import KEY_LOOKUP, Principal, prefix_of, verify

ANONYMOUS = Principal(role="anonymous", operator=None, key_prefix="")
# Resolved keys are cached briefly so that a busy client costs no lookup per request; revocation
# therefore takes effect within this many seconds.
CACHE_SECONDS = 30.0
_cache: dict[str, tuple[float, Principal | None]] = {}


def _key_from(request: Request) -> str | None:
    auth = request.headers.get("authorization")
    if auth:
        scheme, _, value = auth.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise ApiError(
                401, "Unauthorized", "Authorization must be 'Bearer <api key>'", {"WWW-Authenticate": "Bearer"}
            )
        return value.strip()
    return request.headers.get("x-api-key")


async def principal(request: Request) -> Principal:
    key = _key_from(request)
    if not key:
        return ANONYMOUS
    now = time.monotonic()
    hit = _cache.get(key)
    if hit is None or now - hit[0] > CACHE_SECONDS:
        prefix = prefix_of(key)
        found = None
        if prefix:
            async with request.app.state.pool.connection() as conn:
                cur = await conn.execute(KEY_LOOKUP, (prefix,))
                found = verify(await cur.fetchone(), key)
        if len(_cache) > 10_000:  # bounded: random keys from a misbehaving client must not grow memory
            _cache.clear()
        _cache[key] = (now, found)
        hit = _cache[key]
    if hit[1] is None:
        raise ApiError(401, "Unauthorized", "unknown or revoked API key", {"WWW-Authenticate": "Bearer"})
    return hit[1]


def visibility_key(who: Principal) -> str:
    """Callers with the same key see the same rows (see visibility_sql)."""
    if who.role in ("planner", "admin"):
        return "all"
    if who.role == "partner" and who.operator:
        return f"partner:{who.operator}"
    return "public"


def visibility_sql(who: Principal, params: dict) -> str:
    """SQL condition on t.sensitivity/t.operator for what this caller may read."""
    if who.role in ("planner", "admin"):
        return "TRUE"
    if who.role == "partner" and who.operator:
        params["own_operator"] = who.operator
        return "(t.sensitivity = 'public' OR t.operator = %(own_operator)s)"
    return "t.sensitivity = 'public'"
