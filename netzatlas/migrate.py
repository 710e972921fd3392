"""Schema migrations through Alembic (the only way the schema changes)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, pool

from netzatlas import db
from netzatlas.db import database_url, sqlalchemy_url

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", sqlalchemy_url(url or database_url()).replace("%", "%%"))
    return cfg


# PostGIS's box operators, marked LEAKPROOF so that indexes serve queries under row-level security (see
# migration 0006, which holds its own copy of this list). The marks live on the extension's functions: a
# PostGIS upgrade or a restore recreates those without them, so every upgrade states them again.
LEAKPROOF = (
    "geometry_overlaps(geometry, geometry)",
    "geometry_contains(geometry, geometry)",
    "geometry_within(geometry, geometry)",
)


def upgrade(url: str | None = None, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)
    if revision == "head":
        with db.connect(url or database_url(), autocommit=True) as conn:
            for fn in LEAKPROOF:
                conn.execute(f"ALTER FUNCTION {fn} LEAKPROOF")


def downgrade(url: str | None = None, revision: str = "base") -> None:
    command.downgrade(alembic_config(url), revision)


def current_revision(url: str | None = None) -> str | None:
    engine = create_engine(sqlalchemy_url(url or database_url()), poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config("postgresql://x@/x")).get_current_head()
