"""Alembic environment: runs against the URL that netzatlas.db resolves (or the one passed in)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from netzatlas.db import database_url, sqlalchemy_url

url = context.config.get_main_option("sqlalchemy.url") or sqlalchemy_url(database_url())


def run_migrations_offline() -> None:
    context.configure(url=url, literal_binds=True, transaction_per_migration=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, transaction_per_migration=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
