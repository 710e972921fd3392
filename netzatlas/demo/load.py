"""Load the Worms demo into the registry: reference layers set-based, assets through the registry service."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import psycopg

from netzatlas.demo.generate import SYNTHETIC_NOTE, DemoData, generate
from netzatlas.registry import reference, service

ZENSUS_ATTRIBUTION = "dl-de/by-2-0, © Statistische Ämter des Bundes und der Länder (Zensus 2011)"
DEMO_BUILDINGS_SOURCE = "netzatlas-demo"
DEMO_ACTOR = "demo-loader"

Progress = Callable[[str, int, int], None]


def load(conn: psycopg.Connection, data: DemoData | None = None, progress: Progress | None = None) -> dict[str, Any]:
    """Load (or re-load) the demo inside the caller's transaction. Returns what changed per layer."""
    data = data or generate()
    report = progress or (lambda step, done, total: None)
    m = data.municipality
    reference.upsert_municipality(conn, m["ags"], m["name"], m["boundary"], m.get("note"))
    reference.upsert_districts(conn, m["ags"], data.districts)
    for op in data.operators:
        reference.upsert_operator(conn, op["id"], op["name"], op["kind"])
    report("reference layers", 1, 1)
    cells = reference.upsert_population_cells(conn, data.population_cells, ZENSUS_ATTRIBUTION)
    buildings = reference.upsert_buildings(
        conn, m["ags"], DEMO_BUILDINGS_SOURCE, data.buildings, f"synthetic: {SYNTHETIC_NOTE}"
    )
    report("buildings", len(data.buildings), len(data.buildings))
    outcomes: Counter[str] = Counter()
    for i, a in enumerate(data.assets, 1):
        outcome, _ = service.upsert(
            conn,
            service.AssetInput(
                kind=a["kind"],
                operator=a["operator"],
                external_id=a["external_id"],
                geometry=a["geometry"],
                name=a["name"],
                status=a["status"],
                sensitivity=a["sensitivity"],
                municipality=m["ags"],
                commissioned_on=a.get("commissioned_on"),
                attributes=a["attributes"],
            ),
        )
        outcomes[outcome] += 1
        report("assets", i, len(data.assets))
    return {"population_cells_changed": cells, "buildings_changed": buildings, "assets": dict(outcomes)}


def checksum(conn: psycopg.Connection) -> dict[str, Any]:
    """Counts and content checksums of the registry, independent of generated ids and timestamps."""
    queries = {
        "districts": "SELECT name || ST_AsEWKT(boundary) AS r FROM districts",
        "population_cells": "SELECT id || coalesce(population, -1) || ST_AsEWKT(geom) AS r FROM population_cells",
        "buildings": "SELECT source || external_id || coalesce(households, -1) || ST_AsEWKT(geom) AS r FROM buildings",
        "assets": """SELECT concat_ws('|', kind, operator, external_id, name, status, sensitivity, commissioned_on,
                         attributes::text, ST_AsEWKT(geom), version, retired_at IS NULL) AS r FROM assets""",
    }
    out: dict[str, Any] = {}
    for layer, q in queries.items():
        row = conn.execute(
            f"SELECT count(*) AS n, md5(coalesce(string_agg(r, E'\\n' ORDER BY r), '')) AS h FROM ({q}) t"
        ).fetchone()
        out[layer] = {"count": row["n"], "md5": row["h"]}
    return out
