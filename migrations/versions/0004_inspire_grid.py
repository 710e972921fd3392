"""The INSPIRE grid as data: buildings carry their grid point, cell polygons are stored once.

- `buildings.grid_point`: the point on surface in EPSG:3035, the grid's CRS. A building's cell (of any
  resolution) is plain arithmetic on it, computed once when the building is written instead of one PROJ
  transformation per building in every coverage run.
- `inspire_cells`: each 100 m cell's polygon in EPSG:25832 (generated from the id by
  `inspire_cell_polygon`), written once, when a run first reports on the cell. Runs store per-cell
  numbers only; the coverage-cells collection takes the polygon from here.
- `coverage_buildings` records each building's households, population cell and share of its people, so
  that a cell's or district's population can be traced to buildings.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        ALTER TABLE buildings ADD COLUMN grid_point geometry(Point, 3035)
            GENERATED ALWAYS AS (ST_Transform(ST_PointOnSurface(geom), 3035)) STORED;

        -- an INSPIRE cell id's polygon in EPSG:25832: its corners transformed from EPSG:3035
        CREATE FUNCTION inspire_cell_polygon(cell text) RETURNS geometry(Polygon, 25832)
        LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
            SELECT ST_Transform(ST_MakeEnvelope(e, n, e + r, n + r, 3035), 25832)::geometry(Polygon, 25832)
            FROM (SELECT substring(cell from 'E([0-9]+)$')::float8 AS e, substring(cell from 'N([0-9]+)E')::float8 AS n,
                         substring(cell from 'RES([0-9]+)m')::float8 AS r) c
        $$;
        CREATE TABLE inspire_cells (
            id text PRIMARY KEY CHECK (id ~ '^CRS3035RES100mN[0-9]+E[0-9]+$'),
            geom geometry(Polygon, 25832) NOT NULL GENERATED ALWAYS AS (inspire_cell_polygon(id)) STORED
        );
        CREATE INDEX inspire_cells_geom_idx ON inspire_cells USING gist (geom);
        INSERT INTO inspire_cells (id) SELECT DISTINCT cell_id FROM coverage_cells;
        ALTER TABLE coverage_cells DROP COLUMN geom;
        CREATE INDEX coverage_cells_cell_idx ON coverage_cells (cell_id);

        ALTER TABLE coverage_buildings ADD COLUMN households integer, ADD COLUMN population_cell text,
            ADD COLUMN population double precision;
        """
    )


def downgrade() -> None:
    op.execute(
        """
        ALTER TABLE coverage_buildings DROP COLUMN households, DROP COLUMN population_cell, DROP COLUMN population;
        ALTER TABLE coverage_cells ADD COLUMN geom geometry(Polygon, 25832);
        UPDATE coverage_cells c SET geom = g.geom FROM inspire_cells g WHERE g.id = c.cell_id;
        ALTER TABLE coverage_cells ALTER COLUMN geom SET NOT NULL;
        CREATE INDEX coverage_cells_geom_idx ON coverage_cells USING gist (geom);
        DROP TABLE inspire_cells;
        DROP FUNCTION inspire_cell_polygon(text);
        ALTER TABLE buildings DROP COLUMN grid_point;
        """
    )
