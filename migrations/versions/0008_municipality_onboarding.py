"""Onboarding a municipality: district keys, population per district, and removal by the application.

- `districts.key`: the city's own number of a district (Ortsbezirks-/Stadtteilnummer), optional and unique
  per municipality, so that a population table may name districts by key instead of by name.
- `district_population`: population per district and year from a city's statistics office (public figures,
  no row-level security). The latest year of a district is the one that counts.
- The application role may delete municipalities and districts: `netzatlas municipalities remove` deletes a
  municipality with its districts and their population once nothing else references it (assets, buildings,
  coverage runs keep their references and make the delete fail).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

APP_ROLE = "netzatlas_app"


def upgrade() -> None:
    op.execute(
        f"""
        ALTER TABLE districts ADD COLUMN key text CHECK (key <> '' AND length(key) <= 50);
        ALTER TABLE districts ADD CONSTRAINT districts_municipality_key_key UNIQUE (municipality, key);

        CREATE TABLE district_population (
            district_id integer NOT NULL REFERENCES districts(id) ON DELETE CASCADE,
            year integer NOT NULL CHECK (year BETWEEN 1800 AND 2200),
            population integer NOT NULL CHECK (population >= 0),
            source text NOT NULL,
            loaded_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (district_id, year)
        );

        GRANT SELECT, INSERT, UPDATE, DELETE ON district_population TO {APP_ROLE};
        GRANT DELETE ON municipalities, districts TO {APP_ROLE};
        """
    )


def downgrade() -> None:
    op.execute(
        f"""
        REVOKE DELETE ON municipalities, districts FROM {APP_ROLE};
        DROP TABLE IF EXISTS district_population;
        ALTER TABLE districts DROP CONSTRAINT IF EXISTS districts_municipality_key_key;
        ALTER TABLE districts DROP COLUMN IF EXISTS key;
        """
    )
