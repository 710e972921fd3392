"""What a whole schema holds: the one list of extensions, tables, views and functions the application needs.

`/health` reports any of them missing (and a revision other than the migrations' head, and a protected table with
row-level security switched off) as 503; `netzatlas db up` and `netzatlas db restore` refuse such a database.
tests/test_db_faults.py compares the list with the catalog of a freshly migrated database, so a migration that
adds an object without listing it fails there.
"""

from __future__ import annotations

from typing import Any

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

# One round trip; catalog lookups need no privilege on the objects themselves.
MISSING_SQL = """
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
               OR c.oid IN (SELECT inhrelid FROM pg_inherits WHERE inhparent = to_regclass('public.assets')))
          AND NOT c.relrowsecurity
        ORDER BY c.relname) AS unprotected
"""
MISSING_PARAMS: dict[str, Any] = {
    "extensions": list(EXTENSIONS),
    "tables": list(TABLES),
    "functions": list(FUNCTIONS),
    "protected": list(PROTECTED),
}
REVISION_SQL = "SELECT version_num FROM alembic_version"


def problems(missing: dict[str, list[str]], revision: str | None, head: str | None) -> list[str]:
    """Readable problems from MISSING_SQL's row and the revisions; empty when the schema is whole."""
    out = [f"missing {kind[:-1]} {name}" for kind in ("extensions", "tables", "functions") for name in missing[kind]]
    out += [f"row-level security off on {name}" for name in missing.get("unprotected") or []]
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
