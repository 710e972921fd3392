"""Building heights for the building-aware line-of-sight test of radio runs.

- `buildings.height_m`: height above ground as the delivery states it (metres, > 0).
- `buildings.levels`: number of storeys above ground as the delivery states it; a run that needs a height and has
  none takes levels x 3 m, else the run's declared default height.

Both are optional; existing rows keep NULL.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        ALTER TABLE buildings
            ADD COLUMN height_m real CHECK (height_m > 0 AND height_m < 1000),
            ADD COLUMN levels smallint CHECK (levels >= 0 AND levels < 300)
        """
    )


def downgrade() -> None:
    op.execute("ALTER TABLE buildings DROP COLUMN height_m, DROP COLUMN levels")
