"""Migrations upgrade an empty database and downgrade cleanly."""

from netzatlas import db, migrate
from netzatlas.registry.kinds import KINDS

from .conftest import make_database


def _tables(url: str) -> set[str]:
    with db.connect(url) as conn:
        rows = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'spatial_ref_sys'"
        ).fetchall()
    return {r["tablename"] for r in rows}


def test_upgrade_from_empty_and_downgrade_cleanly():
    name = "netzatlas_test_migrations"
    url = make_database(name)
    try:
        assert _tables(url) == set()
        migrate.upgrade(url)
        assert migrate.current_revision(url) == migrate.head_revision()
        tables = _tables(url)
        assert {
            "assets",
            "asset_history",
            "municipalities",
            "districts",
            "buildings",
            "population_cells",
            "operators",
            "api_keys",
            "submissions",
        } <= tables
        assert {k.partition for k in KINDS} <= tables
        migrate.downgrade(url, "base")
        assert _tables(url) == {"alembic_version"}
        assert migrate.current_revision(url) is None
        with db.connect(url) as conn:
            left = conn.execute(
                "SELECT count(*) AS n FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
                "WHERE n.nspname = 'public' AND p.proname LIKE 'assets_%'"
            ).fetchone()
            assert left["n"] == 0
        migrate.upgrade(url)  # and up again from base
        assert migrate.current_revision(url) == migrate.head_revision()
    finally:
        db.drop_database(name)
