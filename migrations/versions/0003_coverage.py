"""Coverage results: runs, per-cell, per-district and per-building results, gap polygons.

Coverage reads the registry and writes only these tables (and raster files referenced from the run).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

LAYERS = ("coverage_cells", "coverage_districts", "coverage_gaps")


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE coverage_runs (
            id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            analysis text NOT NULL CHECK (analysis IN ('fiber', 'mobile', 'iot')),
            municipality text NOT NULL REFERENCES municipalities(ags),
            status text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
            progress real NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 1),
            message text,
            parameters jsonb NOT NULL,
            model jsonb NOT NULL DEFAULT '{}',
            input_counts jsonb NOT NULL DEFAULT '{}',
            statistics jsonb NOT NULL DEFAULT '{}',
            timings jsonb NOT NULL DEFAULT '{}',
            outputs jsonb NOT NULL DEFAULT '{}',
            error text,
            actor text,
            worker text,
            created_at timestamptz NOT NULL DEFAULT now(),
            started_at timestamptz,
            finished_at timestamptz
        );
        CREATE INDEX coverage_runs_lookup_idx ON coverage_runs (municipality, analysis, status, created_at);

        CREATE TABLE coverage_cells (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            run_id uuid NOT NULL REFERENCES coverage_runs(id) ON DELETE CASCADE,
            analysis text NOT NULL,
            cell_id text NOT NULL CHECK (cell_id ~ '^CRS3035RES[0-9]+mN[0-9]+E[0-9]+$'),
            buildings integer,
            population double precision,
            share_covered double precision,
            metrics jsonb NOT NULL DEFAULT '{}',
            geom geometry(Polygon, 25832) NOT NULL,
            UNIQUE (run_id, cell_id)
        );
        CREATE INDEX coverage_cells_geom_idx ON coverage_cells USING gist (geom);

        CREATE TABLE coverage_districts (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            run_id uuid NOT NULL REFERENCES coverage_runs(id) ON DELETE CASCADE,
            analysis text NOT NULL,
            district_id integer NOT NULL,
            name text NOT NULL,
            buildings integer,
            population double precision,
            share_covered double precision,
            metrics jsonb NOT NULL DEFAULT '{}',
            geom geometry(MultiPolygon, 25832) NOT NULL,
            UNIQUE (run_id, district_id)
        );
        CREATE INDEX coverage_districts_run_idx ON coverage_districts (run_id);

        CREATE TABLE coverage_gaps (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            run_id uuid NOT NULL REFERENCES coverage_runs(id) ON DELETE CASCADE,
            analysis text NOT NULL,
            gap text NOT NULL,
            area_m2 double precision NOT NULL,
            metrics jsonb NOT NULL DEFAULT '{}',
            geom geometry(MultiPolygon, 25832) NOT NULL
        );
        CREATE INDEX coverage_gaps_run_idx ON coverage_gaps (run_id, gap);
        CREATE INDEX coverage_gaps_geom_idx ON coverage_gaps USING gist (geom);

        -- per building (fiber), per device (iot): what the run found, and why
        CREATE TABLE coverage_buildings (
            run_id uuid NOT NULL REFERENCES coverage_runs(id) ON DELETE CASCADE,
            building_id bigint NOT NULL,
            passed boolean NOT NULL,
            connected boolean NOT NULL,
            planned boolean NOT NULL,
            cell_id text NOT NULL,
            district_id integer,
            PRIMARY KEY (run_id, building_id)
        );
        CREATE TABLE coverage_devices (
            run_id uuid NOT NULL REFERENCES coverage_runs(id) ON DELETE CASCADE,
            asset_id uuid NOT NULL,
            kind text NOT NULL,
            device_type text,
            connectivity text NOT NULL,
            available boolean,
            level_dbm double precision,
            reason text NOT NULL,
            PRIMARY KEY (run_id, asset_id)
        );
        """
    )
    for layer in LAYERS:
        op.execute(
            f"""
            INSERT INTO layer_changes (layer) VALUES ('{layer}') ON CONFLICT DO NOTHING;
            CREATE TRIGGER {layer}_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {layer}
                FOR EACH STATEMENT EXECUTE FUNCTION layer_changed();
            """
        )


def downgrade() -> None:
    op.execute(
        """
        DROP TABLE IF EXISTS coverage_devices, coverage_buildings, coverage_gaps, coverage_districts,
            coverage_cells, coverage_runs;
        DELETE FROM layer_changes WHERE layer IN ('coverage_cells', 'coverage_districts', 'coverage_gaps');
        """
    )
