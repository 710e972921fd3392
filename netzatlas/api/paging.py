"""Building large pages in slices on several connections that share one snapshot.

PostgreSQL builds a page's GeoJSON on one core; a 10,000-feature page spends most of its time there.
Slices of the page (by offset) run on separate connections in parallel. The connections read the same
exported snapshot, so the slices fit together exactly even while others write.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

from psycopg_pool import AsyncConnectionPool

# Pages from this many features on are built in slices.
SLICE_FROM = 2_000
SLICES = 2
# A sliced page holds two connections at once; limiting how many run together keeps connections free
# for everybody else and rules out requests waiting on each other for the pool's last connection.
_sliced: asyncio.Semaphore | None = None


def _gate(pool: AsyncConnectionPool) -> asyncio.Semaphore:
    global _sliced
    if _sliced is None:
        _sliced = asyncio.Semaphore(max(1, pool.max_size // (2 * SLICES)))
    return _sliced


async def fetch_page(pool: AsyncConnectionPool, sql: str, args: dict[str, Any], limit: int) -> dict[str, Any]:
    """Run page_sql (query.py) for args["off"] and `limit`, in slices when the page is large."""
    if limit < SLICE_FROM:
        async with pool.connection() as conn:
            cur = await conn.execute(sql, args)
            row = await cur.fetchone()
            assert row is not None
            return row
    size = math.ceil(limit / SLICES)
    slices = []
    for start in range(0, limit, size):
        n = min(size, limit - start)
        last = start + n == limit
        # only the last slice looks one row further, to tell whether a next page exists
        slices.append({**args, "off": args["off"] + start, "lim": n, "lim1": n + 1 if last else n})
    async with _gate(pool), pool.connection() as lead, pool.connection() as other:
        conns = [lead, other]
        await lead.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        try:
            cur = await lead.execute("SELECT pg_export_snapshot() AS s")
            snapshot = (await cur.fetchone())["s"]
            await other.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            try:
                await other.execute(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
                rows = await asyncio.gather(*(_one(conns[i % len(conns)], sql, a) for i, a in enumerate(slices)))
            finally:
                await other.execute("COMMIT")
        finally:
            await lead.execute("COMMIT")
    last = rows[-1]
    return {
        "fetched": sum(min(r["fetched"], a["lim"]) for r, a in zip(rows, slices, strict=True))
        + (1 if last["fetched"] > slices[-1]["lim"] else 0),
        "body": ",".join(r["body"] for r in rows if r["body"]),
        "last_id": last["last_id"],
        "stamp": rows[0]["stamp"],
    }


async def _one(conn: Any, sql: str, args: dict[str, Any]) -> dict[str, Any]:
    cur = await conn.execute(sql, args)
    row = await cur.fetchone()
    assert row is not None
    return row
