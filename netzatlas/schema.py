"""What a whole schema holds: the one list of extensions, tables, views and functions the application needs, and
the privileges of the role it connects as.

`/health` reports any of them missing (and a revision other than the migrations' head, a protected table with
row-level security switched off, a privilege the application role lacks) as 503; `netzatlas db up` and
`netzatlas db restore` refuse such a database. tests/test_db_faults.py compares the lists with the catalog of a
freshly migrated database, so a migration that adds an object or a grant without listing it fails there.
"""

from __future__ import annotations

from typing import Any

from netzatlas.db import APP_ROLE

EXTENSIONS = ("postgis",)
# Tables and views in the public schema (partitions of `assets` are not listed: they follow the kinds).
TABLES = (
    "alembic_version",
    "api_keys",
    "asset_history",
    "assets",
    "buildings",
    "coverage_buildings",
    "coverage_cells",
    "coverage_devices",
    "coverage_districts",
    "coverage_gaps",
    "coverage_runs",
    "district_population",
    "districts",
    "inspire_cells",
    "layer_changes",
    "municipalities",
    "operators",
    "population_cells",
    "radio_antennas",
    "radio_bands",
    "radio_cells",
    "submissions",
)
# Functions in the public schema that the migrations define (triggers and the INSPIRE grid).
FUNCTIONS = (
    "assets_guard",
    "assets_history_insert",
    "assets_history_update",
    "assets_sensitivity_guard",
    "coverage_run_sensitivity",
    "inspire_cell_polygon",
    "layer_changed",
    "refs_check",
    "refs_parent",
)

# Tables whose rows row-level security filters by caller (migration 0006), besides every partition of `assets`:
# one with security switched off would show every caller every row, so /health names it as it names a missing table.
PROTECTED = (
    "asset_history",
    "assets",
    "coverage_buildings",
    "coverage_cells",
    "coverage_devices",
    "coverage_districts",
    "coverage_gaps",
    "coverage_runs",
    "submissions",
)

# What the application role may do besides reading every table and view above and every partition of `assets`
# (and using every sequence of the public schema): the tables it writes (migrations 0006, 0008). Without one of
# them, requests that write there would fail with a permission error; /health names it instead.
_WRITE = ("INSERT", "UPDATE")
_REPLACE = ("INSERT", "UPDATE", "DELETE")  # tables whose rows a run or a municipality's removal replaces
APP_WRITES: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(("api_keys", "assets", "buildings", "operators", "population_cells", "submissions"), _WRITE),
    **dict.fromkeys(
        ("coverage_runs", "coverage_buildings", "coverage_cells", "coverage_devices", "coverage_districts"), _REPLACE
    ),
    **dict.fromkeys(("coverage_gaps", "district_population", "districts", "municipalities"), _REPLACE),
    "inspire_cells": ("INSERT",),
}

# One round trip; catalog lookups need no privilege on the objects themselves.
MISSING_SQL = """
WITH partitions AS (SELECT inhrelid AS oid FROM pg_inherits WHERE inhparent = to_regclass('public.assets'))
SELECT
  ARRAY(SELECT e FROM unnest(%(extensions)s::text[]) e
        WHERE NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = e)) AS extensions,
  ARRAY(SELECT t FROM unnest(%(tables)s::text[]) t
        WHERE to_regclass(format('public.%%I', t)) IS NULL) AS tables,
  ARRAY(SELECT f FROM unnest(%(functions)s::text[]) f
        WHERE NOT EXISTS (SELECT 1 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                          WHERE n.nspname = 'public' AND p.proname = f)) AS functions,
  ARRAY(SELECT c.relname::text FROM pg_class c
        WHERE (c.oid IN (SELECT to_regclass(format('public.%%I', t)) FROM unnest(%(protected)s::text[]) t)
               OR c.oid IN (SELECT oid FROM partitions))
          AND NOT c.relrowsecurity
        ORDER BY c.relname) AS unprotected,
  ARRAY(SELECT %(role)s::text WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = %(role)s)) AS roles,
  ARRAY(SELECT format('%%s on %%s', p.priv, p.rel) FROM (
          SELECT t AS rel, 'SELECT' AS priv FROM unnest(%(tables)s::text[]) t
          UNION ALL
          SELECT c.relname, 'SELECT' FROM pg_class c WHERE c.oid IN (SELECT oid FROM partitions)
          UNION ALL
          SELECT split_part(w, ' ', 1), split_part(w, ' ', 2) FROM unnest(%(writes)s::text[]) w
          UNION ALL
          SELECT c.relname, 'USAGE' FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = 'public' AND c.relkind = 'S'
        ) p
        WHERE to_regclass(format('public.%%I', p.rel)) IS NOT NULL
          -- CASE, not AND: the privilege functions raise an error for a role that does not exist (named above)
          AND CASE WHEN NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = %(role)s) THEN false
                   WHEN p.priv = 'USAGE' THEN NOT has_sequence_privilege(%(role)s, format('public.%%I', p.rel), 'USAGE')
                   ELSE NOT has_table_privilege(%(role)s, format('public.%%I', p.rel), p.priv)
              END
        ORDER BY p.rel, p.priv) AS privileges
"""
MISSING_PARAMS: dict[str, Any] = {
    "extensions": list(EXTENSIONS),
    "tables": list(TABLES),
    "functions": list(FUNCTIONS),
    "protected": list(PROTECTED),
    "role": APP_ROLE,
    "writes": [f"{table} {p}" for table, privileges in APP_WRITES.items() for p in privileges],
}
REVISION_SQL = "SELECT version_num FROM alembic_version"


def problems(missing: dict[str, list[str]], revision: str | None, head: str | None) -> list[str]:
    """Readable problems from MISSING_SQL's row and the revisions; empty when the schema is whole."""
    out = [f"missing {kind[:-1]} {name}" for kind in ("extensions", "tables", "functions") for name in missing[kind]]
    out += [f"row-level security off on {name}" for name in missing.get("unprotected") or []]
    out += [f"missing role {name}" for name in missing.get("roles") or []]
    out += [f"{APP_ROLE} lacks {p}" for p in missing.get("privileges") or []]
    if revision != head:
        out.append(f"schema revision {revision or 'none'}, expected {head}")
    return out


def check(conn: Any, head: str | None) -> list[str]:
    """The problems of a database's schema, over a synchronous psycopg connection (dict rows)."""
    missing = conn.execute(MISSING_SQL, MISSING_PARAMS).fetchone()
    revision = None
    if not missing["tables"] or "alembic_version" not in missing["tables"]:
        row = conn.execute(REVISION_SQL).fetchone()
        revision = row["version_num"] if row else None
    return problems(missing, revision, head)
