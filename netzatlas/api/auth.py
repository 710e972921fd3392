"""Who is calling: API keys from `Authorization: Bearer|Basic` or `X-API-Key`, and what they may see.

Basic carries the key as the password (any user name), because QGIS 3.22 and GDAL can send Basic auth but
no custom header. Every request looks its key up (one indexed row by prefix), so revoking a key takes
effect for the next request.
"""

from __future__ import annotations

import base64
import binascii

from fastapi import Request

from netzatlas.api.errors import ApiError
from netzatlas.registry import access
from netzatlas.registry.keys import KEY_LOOKUP, Principal, prefix_of, verify

ANONYMOUS = Principal(role="anonymous", operator=None, key_prefix="")
REALM = 'realm="Netzatlas"'
# Offered when the header cannot be read: both schemes a client may use for an API key.
CHALLENGE = f"Basic {REALM}, Bearer {REALM}"
_SCOPE_KEY = "netzatlas.principal"  # the resolved caller, once per request


class BadCredentials(Exception):
    """An Authorization header that is not `Bearer <key>` or `Basic base64(user:key)`."""


def _from_basic(value: str) -> str:
    try:
        decoded = base64.b64decode(value, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise BadCredentials("Authorization: Basic credentials must be base64 of 'user:api key'") from None
    user, colon, password = decoded.partition(":")
    if not colon:
        raise BadCredentials("Authorization: Basic credentials must be base64 of 'user:api key'")
    # The key is the password; `curl -u KEY:` puts it in the user name instead, which is accepted too.
    key = password or user
    if not key:
        raise BadCredentials("Authorization: Basic credentials carry no API key (the password is the key)")
    return key


def key_from_headers(authorization: str | None, api_key: str | None) -> tuple[str | None, str]:
    """The presented API key (or None) and the scheme that carried it ('basic', 'bearer' or 'header').

    Raises BadCredentials for a malformed Authorization header."""
    if authorization:
        scheme, _, value = authorization.strip().partition(" ")
        scheme, value = scheme.lower(), value.strip()
        if not value or scheme not in ("bearer", "basic"):
            raise BadCredentials("Authorization must be 'Bearer <api key>' or 'Basic base64(user:api key)'")
        return (value, "bearer") if scheme == "bearer" else (_from_basic(value), "basic")
    return (api_key or None), "header"


def unauthorized(description: str, scheme: str | None = None) -> ApiError:
    """401 with a challenge: the scheme the caller used, or every scheme we accept."""
    challenge = {"basic": f"Basic {REALM}", "bearer": f"Bearer {REALM}"}.get(scheme or "", CHALLENGE)
    return ApiError(401, "Unauthorized", description, {"WWW-Authenticate": challenge})


async def principal(request: Request) -> Principal:
    known = request.scope.get(_SCOPE_KEY)
    if known is not None:
        access.set_current(access.for_role(known.role, known.operator))  # this context's connections state it
        return known
    try:
        key, scheme = key_from_headers(request.headers.get("authorization"), request.headers.get("x-api-key"))
    except BadCredentials as e:
        raise unauthorized(str(e)) from None
    if not key:
        found = ANONYMOUS
    else:
        prefix = prefix_of(key)
        found = None
        if prefix:
            async with request.app.state.pool.connection() as conn:
                cur = await conn.execute(KEY_LOOKUP, (prefix,))
                found = verify(await cur.fetchone(), key)
        if found is None:
            raise unauthorized("unknown or revoked API key", "basic" if scheme == "basic" else "bearer")
    request.scope[_SCOPE_KEY] = found
    # from here on the request's database connections state this caller (row-level security)
    access.set_current(access.for_role(found.role, found.operator))
    return found


def visibility_key(who: Principal) -> str:
    """Callers with the same key see the same rows (the read policies of migration 0006): a cache key."""
    if who.role in ("planner", "admin"):
        return "all"
    if who.role == "partner" and who.operator:
        return f"partner:{who.operator}"
    return "public"
