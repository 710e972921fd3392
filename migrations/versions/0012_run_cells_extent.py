"""The extent of each coverage run's 100 m cells, kept on the run.

The extent of the coverage-cells collection is the extent of the cells the caller sees, and a caller sees a run's
cells exactly when it sees the run (migration 0006). With the extent on the run, the collection's extent is read
from the runs the caller sees instead of from every cell of every run (7 million rows for 1,000 runs). A run writes
its extent when it succeeds; this migration fills it in for the runs there are.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30
"""

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        ALTER TABLE coverage_runs ADD COLUMN cells_extent box2d;
        COMMENT ON COLUMN coverage_runs.cells_extent IS
            'extent of the run''s coverage_cells (storage CRS), written when the run succeeds';
        UPDATE coverage_runs r SET cells_extent = e.extent
        FROM (SELECT c.run_id, ST_Extent(g.geom) AS extent
              FROM coverage_cells c JOIN inspire_cells g ON g.id = c.cell_id GROUP BY c.run_id) e
        WHERE e.run_id = r.id;
        """
    )


def downgrade() -> None:
    op.execute("ALTER TABLE coverage_runs DROP COLUMN cells_extent")
