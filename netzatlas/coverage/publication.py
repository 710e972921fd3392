"""Publishing a coverage run: its aggregates become public while its details keep the run's sensitivity.

A run is as confidential as its most confidential input (migration 0006). A planner may publish it: its
100 m cells and district shares are then visible to everyone (they reveal no single asset's position,
like the Bundesnetzagentur's published 100 m coverage), while its rasters, gap polygons and per-building
and per-device results stay with the run's sensitivity. A run meant to be public as a whole is computed
from public inputs only (parameter inputs=public) instead.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from netzatlas import db


class PublicationError(ValueError):
    """The run cannot be published or withdrawn; the message says why."""


def publish(url: str, run_id: UUID | str, actor: str, published: bool = True) -> dict[str, Any]:
    """Publish (or withdraw) a succeeded run's aggregates; the caller must see the run (planner, admin)."""
    try:
        UUID(str(run_id))
    except ValueError:
        raise PublicationError(f"no run {run_id!r}") from None
    with db.connect(url, autocommit=True) as conn:
        row = conn.execute(
            """UPDATE coverage_runs
                  SET published_at = CASE WHEN %(on)s THEN coalesce(published_at, now()) END,
                      published_by = CASE WHEN %(on)s THEN coalesce(published_by, %(actor)s) END
                WHERE id = %(id)s AND status = 'succeeded'
            RETURNING id, analysis, sensitivity, published_at, published_by""",
            {"on": published, "actor": actor, "id": str(run_id)},
        ).fetchone()
        if row is None:
            exists = conn.execute("SELECT status FROM coverage_runs WHERE id = %s", (str(run_id),)).fetchone()
            if exists is None:
                raise PublicationError(f"no run {run_id!r}")
            raise PublicationError(f"run {run_id} is {exists['status']}; only a succeeded run can be published")
    return row
