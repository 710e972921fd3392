"""Fiber homes passed: set-based SQL over buildings, fiber routes and network nodes.

A building is passed when an in-service fiber route or distribution node lies within the drop distance
of its footprint; connected when an in-service building-entry node lies within `entry_distance_m`
(a connected building counts as passed). Buildings not passed but within the drop distance of planned
or under-construction routes/nodes are "passed once the planned rollout is built".
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from netzatlas import db
from netzatlas.coverage.grid import (
    CELL_M,
    POPULATION_RULE,
    cell_id_sql,
    id_to_key,
    merge_cells,
    population_cells,
    register_cells_sql,
)
from netzatlas.coverage.rasters import write_gaps
from netzatlas.coverage.runs import Context
from netzatlas.registry.columns import attribute_sql
from netzatlas.registry.kinds import KINDS_BY_ID

ROUTES = KINDS_BY_ID["fiber-routes"].partition
NODES = KINDS_BY_ID["network-nodes"].partition


def node_type_sql(alias: str) -> str:
    """SQL: the node type of the network node aliased `alias` ("" for none)."""
    return attribute_sql(alias, "network-nodes", "node_type")


def carries_fibre(alias: str) -> str:
    """SQL: the fiber route aliased `alias` ("" for none) carries fibre.

    A route passes homes when it carries fibre: a cable, or a duct (or trench) with fibres in it (fibre_count > 0,
    a "lit duct"). Empty ducts and trenches (GIS-NB "Leerrohre", "Trassenbau") only make a building "prepared"."""
    route_type, fibres = (attribute_sql(alias, "fiber-routes", n) for n in ("route_type", "fibre_count"))
    return f"({route_type} = 'cable' OR coalesce({fibres}, 0) > 0)"


CARRIES_FIBRE = carries_fibre("a")
# Homes are households; a building without a household count counts as one household.
HOMES = "coalesce(f.households, 1)"
# The metrics of a group of buildings (a cell, a district) of coverage_buildings f.
FIBER_METRICS = f"""jsonb_build_object('passed', count(*) FILTER (WHERE f.passed),
                       'connected', count(*) FILTER (WHERE f.connected),
                       'planned', count(*) FILTER (WHERE f.planned),
                       'prepared', count(*) FILTER (WHERE f.prepared),
                       'households', sum({HOMES}),
                       'households_passed', coalesce(sum({HOMES}) FILTER (WHERE f.passed), 0),
                       'households_prepared', coalesce(sum({HOMES}) FILTER (WHERE f.prepared), 0),
                       'population_passed',
                       round(coalesce(sum(f.population) FILTER (WHERE f.passed), 0)::numeric, 2))"""


def _near(table: str, status: str, extra: str = "") -> str:
    return (
        f"EXISTS (SELECT 1 FROM {table} a WHERE a.status {status} AND a.retired_at IS NULL {extra} "
        f"AND ST_DWithin(a.geom, b.geom, %(drop)s))"
    )


def share_sql(population: bool) -> str:
    """One share of the municipality's buildings (grid columns of %(stripe)s metres, every %(shares)sth): per
    building passed, connected, planned, cell, district, households and population, into coverage_buildings;
    then the share's cells (no cell spans two shares) into coverage_cells, registering new ones in inspire_cells.

    A building's population is its population cell's effective people (the finest grid with a value; a coarser
    cell contributes only its remainder, grid.POPULATION_RULE, given as %(pc_ids)s / %(pc_people)s) shared by
    households, a building without households counting as one. The stripe width is a common multiple of
    100 m and every population grid's cell size, so a population cell never spans two shares either.
    """
    live, planned = "= 'in_service'", "IN ('planned', 'under_construction')"
    dist = f"AND {node_type_sql('a')} = ANY(%(types)s)"
    population_cell, people, join = "NULL::text", "NULL::float8", ""  # no population grid registered
    if population:
        population_cell = f"""(SELECT pc.id FROM unnest(%(resolutions)s::int[]) AS g(m)
                    JOIN population_cells pc ON pc.id = {cell_id_sql("b.grid_point", "g.m")}
                    WHERE pc.population IS NOT NULL ORDER BY g.m LIMIT 1)"""
        people = """pc.people * coalesce(b.households, 1)
                       / sum(coalesce(b.households, 1)) OVER (PARTITION BY b.population_cell)"""
        join = """LEFT JOIN unnest(%(pc_ids)s::text[], %(pc_people)s::float8[]) AS pc(id, people)
                    ON pc.id = b.population_cell"""
    # OFFSET 0 keeps the subquery from being flattened, so each EXISTS runs once per building
    return f"""
        WITH b AS (
            SELECT b.id, b.district_id, b.households, b.geom,
                   {cell_id_sql("b.grid_point")} AS cell_id,
                   {population_cell} AS population_cell,
                   {_near(ROUTES, live, "AND " + CARRIES_FIBRE)} OR {_near(NODES, live, dist)} AS passed,
                   EXISTS (SELECT 1 FROM {NODES} a WHERE a.status = 'in_service' AND a.retired_at IS NULL
                           AND {node_type_sql("a")} = 'building_entry'
                           AND ST_DWithin(a.geom, b.geom, %(entry)s)) AS connected
            FROM buildings b
            WHERE b.municipality = %(ags)s
              -- mod() keeps the dividend's sign: west of the grid's origin the remainder is share - shares
              AND mod(floor(ST_X(b.grid_point) / %(stripe)s)::bigint, %(shares)s) IN (%(share)s, %(share)s - %(shares)s)
            OFFSET 0
        ), new_cells AS (
            {register_cells_sql("SELECT DISTINCT b.cell_id AS c FROM b")}
        ), f AS (
            INSERT INTO coverage_buildings (run_id, building_id, passed, connected, planned, prepared, cell_id,
                                            district_id, households, population_cell, population)
            SELECT %(run)s, b.id, b.passed OR b.connected, b.connected,
                   NOT (b.passed OR b.connected) AND ({_near(ROUTES, planned)} OR {_near(NODES, planned, dist)}),
                   NOT (b.passed OR b.connected) AND {_near(ROUTES, live, "AND NOT " + CARRIES_FIBRE)},
                   b.cell_id, b.district_id, b.households, b.population_cell, {people}
            FROM b {join}
            RETURNING *
        )
        INSERT INTO coverage_cells (run_id, analysis, cell_id, buildings, population, share_covered, metrics)
        SELECT %(run)s, 'fiber', f.cell_id, count(*), sum(f.population), avg(f.passed::int), {FIBER_METRICS}
        FROM f GROUP BY f.cell_id
    """


def _assess(url: str, args: dict[str, Any], shares: int) -> None:
    """The shares on as many connections at once (one per core)."""

    def part(share: int) -> None:
        with db.transaction(url) as conn:
            # No flush at commit: the run's final status commit flushes the log up to itself, so a run marked
            # succeeded always has its results; a crash before that leaves a run that is reaped as failed.
            conn.execute("SET LOCAL jit = off; SET LOCAL work_mem = '64MB'; SET LOCAL synchronous_commit = off")
            conn.execute(share_sql(bool(args["resolutions"])), {**args, "shares": shares, "share": share})

    with ThreadPoolExecutor(shares) as pool:
        list(pool.map(part, range(shares)))


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
            f"""SELECT (SELECT count(*) FROM buildings WHERE municipality = %(ags)s) AS buildings, r.*, n.*,
                       (SELECT count(*) FROM population_cells) AS population_cells
                FROM (SELECT count(*) FILTER (WHERE status = 'in_service') AS routes_in_service,
                             count(*) FILTER (WHERE status = 'in_service' AND {carries_fibre("")})
                                 AS routes_in_service_carrying_fibre,
                             count(*) FILTER (WHERE status IN ('planned', 'under_construction')) AS routes_planned
                      FROM {ROUTES} WHERE retired_at IS NULL) r,
                     (SELECT count(*) FILTER (WHERE {node_type_sql("")} = ANY(%(types)s))
                                 AS distribution_nodes_in_service,
                             count(*) FILTER (WHERE {node_type_sql("")} = 'building_entry')
                                 AS building_entries_in_service
                      FROM {NODES} WHERE status = 'in_service' AND retired_at IS NULL) n""",
            args,
        ).fetchone()
        ctx.report(0.05, f"{counts['buildings']:,} buildings, {counts['routes_in_service']:,} routes in service")
        pop = population_cells(conn, ctx.boundary.bounds)
        args.update(resolutions=sorted(set(pop.resolution_m)), pc_ids=pop.ids, pc_people=pop.population)
        args["stripe"] = math.lcm(CELL_M, *args["resolutions"])
    _assess(ctx.url, args, max(1, min(4, os.cpu_count() or 1)))
    ctx.lap("per_building")
    ctx.report(0.6, "buildings and cells assessed")
    with db.transaction(ctx.url) as conn:
        conn.execute("SET LOCAL work_mem = '64MB'; SET LOCAL jit = off; SET LOCAL synchronous_commit = off")
        conn.execute(
            f"""INSERT INTO coverage_districts (run_id, analysis, district_id, name, buildings, population,
                                               share_covered, metrics, geom)
               SELECT %(run)s, 'fiber', d.id, d.name, count(f.building_id), sum(f.population),
                      avg(f.passed::int), {FIBER_METRICS}, d.boundary
               FROM districts d LEFT JOIN coverage_buildings f ON f.run_id = %(run)s AND f.district_id = d.id
               WHERE d.municipality = %(ags)s
               GROUP BY d.id, d.name, d.boundary""",
            args,
        )
        ctx.lap("aggregates")
        ctx.report(0.8, "districts aggregated")
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
                      count(*) FILTER (WHERE prepared) AS prepared,
                      coalesce(sum(coalesce(households, 1)), 0) AS households,
                      coalesce(sum(coalesce(households, 1)) FILTER (WHERE passed), 0) AS households_passed,
                      coalesce(sum(coalesce(households, 1)) FILTER (WHERE prepared), 0) AS households_prepared,
                      count(*) FILTER (WHERE households IS NULL) AS buildings_without_households,
                      (SELECT count(*) FROM coverage_cells WHERE run_id = %(run)s) AS cells,
                      (SELECT count(*) FROM coverage_cells WHERE run_id = %(run)s AND share_covered > 0)
                          AS cells_with_passed,
                      round(coalesce(sum(population), 0)::numeric, 2)::float8 AS population,
                      round(coalesce(sum(population) FILTER (WHERE passed), 0)::numeric, 2)::float8
                          AS population_passed
               FROM coverage_buildings WHERE run_id = %(run)s""",
            args,
        ).fetchone()
        gaps = conn.execute(
            "SELECT gap, count(*) AS n, round(sum(area_m2)::numeric, 1)::float8 AS area_m2 FROM coverage_gaps "
            "WHERE run_id = %(run)s GROUP BY gap ORDER BY gap",
            args,
        ).fetchall()
    n = totals["buildings"]
    stats = {
        **{k: int(v) for k, v in totals.items() if not k.startswith("population")},
        "share_passed": round(totals["passed"] / n, 6) if n else None,
        "share_households_passed": (
            round(totals["households_passed"] / totals["households"], 6) if totals["households"] else None
        ),
        "share_connected": round(totals["connected"] / n, 6) if n else None,
        "share_passed_after_planned": round((totals["passed"] + totals["planned"]) / n, 6) if n else None,
        "population": totals["population"],
        "population_passed": totals["population_passed"],
        "gaps": {g["gap"]: {"polygons": g["n"], "area_m2": g["area_m2"]} for g in gaps},
    }
    ctx.report(1.0, "fiber done")
    return {
        "model": model_description(p),
        "input_counts": {k: int(v) for k, v in counts.items()} | {"population_grid": pop.summary()},
        "statistics": stats,
        "outputs": {},
    }


def model_description(p: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": "fiber homes passed",
        "description": (
            "Homes passed counts households: a building's households are passed when an in-service fiber route that "
            "carries fibre (route_type cable, or a duct or trench with fibre_count > 0) or an in-service distribution "
            f"node ({p['distribution_nodes']}) lies within {p['drop_distance_m']:g} m of its footprint (PostGIS "
            "ST_DWithin, EPSG:25832); buildings are counted separately. A building is connected when an in-service "
            f"building-entry node lies within {p['entry_distance_m']:g} m (connected buildings count as passed). A "
            "building not passed but within the drop distance of an in-service empty duct or trench (no fibre) is "
            "prepared, not passed. Buildings not passed but within the drop distance of planned or under-construction "
            "routes or nodes count as 'passed once the planned rollout is built'."
        ),
        "definitions": {
            "homes_passed": "households (Haushalte) within the drop distance of fibre in service; "
            "the term follows the FTTH Council Europe's 'homes passed' (FTTH/B Global Definitions), counted in "
            "households as the German Gigabit statistics count Haushalte",
            "carries_fibre": "route_type cable, or fibre_count > 0 (a 'lit duct'); the GIS-NB 5.1 profile maps "
            "Verbindungen onto cable, Leerrohre onto duct and Trassenbau onto trench (fibre_count only where "
            "the delivery states it)",
            "prepared": "not passed, but within the drop distance of an in-service duct or trench without fibre",
        },
        "assumptions": [
            "a building without a household count counts as one household (assumption; "
            "buildings_without_households in the statistics says how many)",
            "a duct or trench without fibre_count carries no fibre (assumption: empty until a delivery says otherwise)",
            "distances are straight lines from the building footprint, not along streets",
            "retired assets and assets out of service are ignored",
            "cells are INSPIRE 100 m cells (EPSG:3035) of each building's point on surface",
            "population per building is its population cell's people shared by households (buildings without "
            "households count as one); people in population cells without buildings are not in the fiber figures",
            POPULATION_RULE,
            "gap polygons merge cells with no passed building (unpassed) and cells passed in part (partly_passed)",
        ],
        "grid": "INSPIRE 100 m (EPSG:3035)",
    }
