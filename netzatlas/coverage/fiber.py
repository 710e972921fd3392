"""Fiber homes passed: set-based SQL over buildings, fiber routes and network nodes.

A building is passed when an in-service fiber route or distribution node lies within the drop distance
of its footprint; connected when an in-service building-entry node lies within `entry_distance_m`
(a connected building counts as passed). Buildings not passed but within the drop distance of planned
or under-construction routes/nodes are "passed once the planned rollout is built".
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from netzatlas import db
from netzatlas.coverage.grid import id_to_key, merge_cells
from netzatlas.coverage.rasters import write_gaps
from netzatlas.coverage.runs import Context
from netzatlas.registry.kinds import KINDS_BY_ID

ROUTES = KINDS_BY_ID["fiber-routes"].partition
NODES = KINDS_BY_ID["network-nodes"].partition

# The INSPIRE 100 m cell (EPSG:3035, south-west corner) of a point in EPSG:25832.
CELL_SQL = """(SELECT 'CRS3035RES100mN' || (floor(ST_Y(q) / 100) * 100)::bigint || 'E'
                      || (floor(ST_X(q) / 100) * 100)::bigint
               FROM ST_Transform({p}, 3035) q)"""
CELL_GEOM_SQL = """ST_Transform(ST_MakeEnvelope(
        substring({c} from 'E([0-9]+)$')::float8, substring({c} from 'N([0-9]+)E')::float8,
        substring({c} from 'E([0-9]+)$')::float8 + 100, substring({c} from 'N([0-9]+)E')::float8 + 100, 3035), 25832)"""


# The metrics of a group of buildings (a cell, a district), from fiber_b joined with fiber_pop.
FIBER_METRICS = """jsonb_build_object('passed', count(*) FILTER (WHERE f.passed),
                       'connected', count(*) FILTER (WHERE f.connected),
                       'planned', count(*) FILTER (WHERE f.planned),
                       'households', sum(f.households),
                       'households_passed', sum(f.households) FILTER (WHERE f.passed),
                       'population_passed',
                       round(coalesce(sum(p.population) FILTER (WHERE f.passed), 0)::numeric, 2))"""


def _near(table: str, status: str, extra: str = "") -> str:
    return (
        f"EXISTS (SELECT 1 FROM {table} a WHERE a.status {status} AND a.retired_at IS NULL {extra} "
        f"AND ST_DWithin(a.geom, b.geom, %(drop)s))"
    )


def per_building_sql() -> str:
    """Passed, connected and planned per building of one share (id %% shares = share), into coverage_buildings."""
    live, planned = "= 'in_service'", "IN ('planned', 'under_construction')"
    dist = "AND a.attributes->>'node_type' = ANY(%(types)s)"
    # OFFSET 0 keeps the inner query from being flattened, so each EXISTS runs once per building
    return f"""
        INSERT INTO coverage_buildings (run_id, building_id, passed, connected, planned, cell_id, district_id)
        SELECT %(run)s, building_id, passed OR connected, connected,
               NOT (passed OR connected) AND ({_near(ROUTES, planned)} OR {_near(NODES, planned, dist)}),
               cell_id, district_id
        FROM (
            SELECT b.id AS building_id, b.district_id, b.geom,
                   {CELL_SQL.format(p="ST_PointOnSurface(b.geom)")} AS cell_id,
                   {_near(ROUTES, live)} OR {_near(NODES, live, dist)} AS passed,
                   EXISTS (SELECT 1 FROM {NODES} a WHERE a.status = 'in_service' AND a.retired_at IS NULL
                           AND a.attributes->>'node_type' = 'building_entry'
                           AND ST_DWithin(a.geom, b.geom, %(entry)s)) AS connected
            FROM buildings b
            WHERE b.municipality = %(ags)s AND b.id %% %(shares)s = %(share)s
            OFFSET 0) b
    """


STAGE_SQL = """
    CREATE TEMP TABLE fiber_b ON COMMIT DROP AS
    SELECT r.building_id, r.district_id, coalesce(b.households, 1) AS weight, b.households, r.cell_id,
           ST_PointOnSurface(b.geom) AS pt, r.passed, r.connected, r.planned
    FROM coverage_buildings r JOIN buildings b ON b.id = r.building_id
    WHERE r.run_id = %(run)s
"""


def _assess(url: str, args: dict[str, Any], shares: int) -> None:
    """The per-building query in `shares` parts on as many connections at once (one per core)."""

    def part(share: int) -> None:
        with db.transaction(url) as conn:
            conn.execute("SET LOCAL jit = off")
            conn.execute(per_building_sql(), {**args, "shares": shares, "share": share})

    with ThreadPoolExecutor(shares) as pool:
        list(pool.map(part, range(shares)))


POPULATION_SQL = """
    -- population per building: its population cell's people shared by households (or 1 per building)
    CREATE TEMP TABLE fiber_pop ON COMMIT DROP AS
    SELECT f.building_id, p.population * f.weight / sum(f.weight) OVER (PARTITION BY p.id) AS population
    FROM fiber_b f JOIN LATERAL (
        SELECT pc.id, pc.population FROM population_cells pc
        WHERE ST_Intersects(pc.geom, f.pt) AND pc.population IS NOT NULL
        ORDER BY pc.resolution_m LIMIT 1) p ON true;
    CREATE INDEX ON fiber_pop (building_id);
"""


def run(ctx: Context) -> dict[str, Any]:
    p = ctx.params
    args = {
        "run": ctx.run_id,
        "ags": ctx.municipality,
        "drop": p["drop_distance_m"],
        "entry": p["entry_distance_m"],
        "types": p["distribution_nodes"].split(","),
    }
    with db.transaction(ctx.url) as conn:
        # JIT compilation costs more than it saves on these index-driven queries
        conn.execute("SET LOCAL work_mem = '64MB'; SET LOCAL jit = off")
        counts = conn.execute(
            f"""SELECT (SELECT count(*) FROM buildings WHERE municipality = %(ags)s) AS buildings,
                  (SELECT count(*) FROM {ROUTES} WHERE status = 'in_service' AND retired_at IS NULL)
                     AS routes_in_service,
                  (SELECT count(*) FROM {ROUTES} WHERE status IN ('planned', 'under_construction')
                     AND retired_at IS NULL) AS routes_planned,
                  (SELECT count(*) FROM {NODES} WHERE status = 'in_service' AND retired_at IS NULL
                     AND attributes->>'node_type' = ANY(%(types)s)) AS distribution_nodes_in_service,
                  (SELECT count(*) FROM {NODES} WHERE status = 'in_service' AND retired_at IS NULL
                     AND attributes->>'node_type' = 'building_entry') AS building_entries_in_service,
                  (SELECT count(*) FROM population_cells) AS population_cells""",
            args,
        ).fetchone()
        ctx.report(0.05, f"{counts['buildings']:,} buildings, {counts['routes_in_service']:,} routes in service")
    _assess(ctx.url, args, max(1, min(4, os.cpu_count() or 1)))
    ctx.lap("per_building")
    with db.transaction(ctx.url) as conn:
        conn.execute("SET LOCAL work_mem = '64MB'; SET LOCAL jit = off")
        conn.execute(STAGE_SQL, args)
        ctx.report(0.6, "buildings assessed")
        conn.execute(POPULATION_SQL)
        conn.execute(
            f"""INSERT INTO coverage_cells (run_id, analysis, cell_id, buildings, population, share_covered, metrics,
                                            geom)
                SELECT %(run)s, 'fiber', f.cell_id, count(*), sum(p.population), avg(f.passed::int),
                       {FIBER_METRICS},
                       {CELL_GEOM_SQL.format(c="f.cell_id")}
                FROM fiber_b f LEFT JOIN fiber_pop p USING (building_id)
                GROUP BY f.cell_id""",
            args,
        )
        conn.execute(
            f"""INSERT INTO coverage_districts (run_id, analysis, district_id, name, buildings, population,
                                               share_covered,
                                               metrics, geom)
               SELECT %(run)s, 'fiber', d.id, d.name, count(f.building_id), sum(p.population),
                      avg(f.passed::int),
                      {FIBER_METRICS},
                      d.boundary
               FROM districts d LEFT JOIN fiber_b f ON f.district_id = d.id
               LEFT JOIN fiber_pop p USING (building_id)
               WHERE d.municipality = %(ags)s
               GROUP BY d.id, d.name, d.boundary""",
            args,
        )
        ctx.lap("aggregates")
        ctx.report(0.8, "cells and districts aggregated")
        # gaps: cells where no building is passed, and cells passed only in part, merged into polygons
        cells = conn.execute(
            """SELECT cell_id, buildings, share_covered, (metrics->>'passed')::int AS passed,
                      (metrics->>'planned')::int AS planned
               FROM coverage_cells WHERE run_id = %(run)s AND share_covered < 1 ORDER BY cell_id""",
            args,
        ).fetchall()
        for gap, rows in (
            ("unpassed", [c for c in cells if c["share_covered"] == 0]),
            ("partly_passed", [c for c in cells if c["share_covered"] > 0]),
        ):
            merged = merge_cells(
                np.array([id_to_key(c["cell_id"]) for c in rows], dtype=np.int64),
                {k: np.array([c[k] for c in rows], dtype=np.float64) for k in ("buildings", "passed", "planned")},
            )
            write_gaps(conn, ctx.run_id, "fiber", gap, merged)
        ctx.lap("gaps")
        totals = conn.execute(
            """SELECT count(*) AS buildings, count(*) FILTER (WHERE passed) AS passed,
                      count(*) FILTER (WHERE connected) AS connected, count(*) FILTER (WHERE planned) AS planned,
                      coalesce(sum(households), 0) AS households,
                      coalesce(sum(households) FILTER (WHERE passed), 0) AS households_passed,
                      count(DISTINCT cell_id) AS cells,
                      count(DISTINCT cell_id) FILTER (WHERE passed) AS cells_with_passed
               FROM fiber_b"""
        ).fetchone()
        pop = conn.execute(
            """SELECT round(coalesce(sum(p.population), 0)::numeric, 2)::float8 AS population,
                      round(coalesce(sum(p.population) FILTER (WHERE f.passed), 0)::numeric, 2)::float8 AS passed
               FROM fiber_b f JOIN fiber_pop p USING (building_id)"""
        ).fetchone()
        gaps = conn.execute(
            "SELECT gap, count(*) AS n, round(sum(area_m2)::numeric, 1)::float8 AS area_m2 FROM coverage_gaps "
            "WHERE run_id = %(run)s GROUP BY gap ORDER BY gap",
            args,
        ).fetchall()
    n = totals["buildings"]
    stats = {
        **{k: int(v) for k, v in totals.items()},
        "share_passed": round(totals["passed"] / n, 6) if n else None,
        "share_connected": round(totals["connected"] / n, 6) if n else None,
        "share_passed_after_planned": round((totals["passed"] + totals["planned"]) / n, 6) if n else None,
        "population": pop["population"],
        "population_passed": pop["passed"],
        "gaps": {g["gap"]: {"polygons": g["n"], "area_m2": g["area_m2"]} for g in gaps},
    }
    ctx.report(1.0, "fiber done")
    return {
        "model": model_description(p),
        "input_counts": {k: int(v) for k, v in counts.items()},
        "statistics": stats,
        "outputs": {},
    }


def model_description(p: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": "fiber homes passed",
        "description": (
            f"A building counts as passed when an in-service fiber route or distribution node "
            f"({p['distribution_nodes']}) lies within {p['drop_distance_m']:g} m of its footprint (PostGIS ST_DWithin, "
            f"EPSG:25832); as connected when an in-service building-entry node lies within {p['entry_distance_m']:g} m "
            "(connected buildings count as passed). Buildings not passed but within the drop distance of planned or "
            "under-construction routes or nodes count as 'passed once the planned rollout is built'."
        ),
        "assumptions": [
            "distances are straight lines from the building footprint, not along streets",
            "retired assets and assets out of service are ignored",
            "cells are INSPIRE 100 m cells (EPSG:3035) of each building's point on surface",
            "population per building is its population cell's population shared by households "
            "(buildings without households count as one)",
            "gap polygons merge cells with no passed building (unpassed) and cells passed in part (partly_passed)",
        ],
        "grid": "INSPIRE 100 m (EPSG:3035)",
    }
