"""Registry schema: reference layers, operators, keys, submissions, assets with history.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# The literals of this revision (netzatlas/registry/kinds.py as it was when this migration was written); a
# migration never reads live code, so that a later change of the code never changes what it creates.
STATUSES = ("planned", "under_construction", "in_service", "out_of_service", "decommissioned")
SENSITIVITIES = ("public", "internal", "critical")
# (partition, kind id, geometry type) of each asset kind
PARTITIONS = (
    ("assets_fiber_routes", "fiber-routes", "LINESTRING"),
    ("assets_network_nodes", "network-nodes", "POINT"),
    ("assets_mobile_sites", "mobile-sites", "POINT"),
    ("assets_sensors", "sensors", "POINT"),
    ("assets_actuators", "actuators", "POINT"),
    ("assets_iot_gateways", "iot-gateways", "POINT"),
)
# the columns of a radio sector (attributes.sectors[]) with their SQL types
SECTOR_COLUMNS = (
    ("sector", "integer"),
    ("technology", "text"),
    ("band", "text"),
    ("frequency_mhz", "double precision"),
    ("azimuth_deg", "double precision"),
    ("mech_tilt_deg", "double precision"),
    ("elec_tilt_deg", "double precision"),
    ("height_m", "double precision"),
    ("eirp_dbm", "double precision"),
    ("bandwidth_mhz", "double precision"),
    ("h_beamwidth_deg", "double precision"),
    ("v_beamwidth_deg", "double precision"),
)


def _in_list(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.execute(
        r"""
        CREATE TABLE municipalities (
            ags text PRIMARY KEY CHECK (ags ~ '^[0-9]{8}$'),
            name text NOT NULL,
            boundary geometry(MultiPolygon, 25832),
            note text,
            created_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE TABLE districts (
            id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            municipality text NOT NULL REFERENCES municipalities(ags),
            name text NOT NULL,
            boundary geometry(MultiPolygon, 25832) NOT NULL,
            approximate boolean NOT NULL DEFAULT false,
            note text,
            UNIQUE (municipality, name)
        );
        CREATE INDEX districts_boundary_idx ON districts USING gist (boundary);

        CREATE TABLE population_cells (
            id text PRIMARY KEY CHECK (id ~ '^CRS3035RES[0-9]+mN[0-9]+E[0-9]+$'),
            resolution_m integer NOT NULL CHECK (resolution_m > 0),
            population integer CHECK (population >= 0),
            geom geometry(Polygon, 25832) NOT NULL,
            source text NOT NULL,
            year integer,
            attribution text
        );
        CREATE INDEX population_cells_geom_idx ON population_cells USING gist (geom);

        CREATE TABLE buildings (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            municipality text REFERENCES municipalities(ags),
            district_id integer REFERENCES districts(id) ON DELETE SET NULL,
            source text NOT NULL,
            external_id text NOT NULL,
            households integer CHECK (households >= 0),
            geom geometry(Geometry, 25832) NOT NULL
                CHECK (GeometryType(geom) IN ('POLYGON', 'MULTIPOLYGON', 'POINT')),
            attribution text,
            UNIQUE (source, external_id)
        );
        CREATE INDEX buildings_geom_idx ON buildings USING gist (geom);

        CREATE TABLE operators (
            id text PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9-]*$'),
            name text NOT NULL,
            kind text NOT NULL CHECK (kind IN ('city', 'telecom', 'utility', 'other')),
            created_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE TABLE api_keys (
            id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            prefix text NOT NULL UNIQUE,
            key_hash text NOT NULL,
            role text NOT NULL CHECK (role IN ('planner', 'partner', 'admin')),
            operator text REFERENCES operators(id),
            label text,
            created_at timestamptz NOT NULL DEFAULT now(),
            revoked_at timestamptz,
            CHECK (role <> 'partner' OR operator IS NOT NULL)
        );
        CREATE TABLE submissions (
            id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            operator text REFERENCES operators(id),
            filename text,
            sha256 text,
            profile text,
            status text NOT NULL DEFAULT 'received'
                CHECK (status IN ('received', 'validated', 'rejected', 'loaded', 'failed')),
            counts jsonb NOT NULL DEFAULT '{}',
            report jsonb NOT NULL DEFAULT '{}',
            actor text,
            created_at timestamptz NOT NULL DEFAULT now(),
            finished_at timestamptz
        );
        """
    )
    op.execute(
        f"""
        CREATE TABLE assets (
            id uuid NOT NULL DEFAULT gen_random_uuid(),
            kind text NOT NULL,
            municipality text NOT NULL REFERENCES municipalities(ags),
            operator text NOT NULL REFERENCES operators(id),
            external_id text NOT NULL CHECK (external_id <> ''),
            name text,
            status text NOT NULL CHECK (status IN ({_in_list(STATUSES)})),
            sensitivity text NOT NULL CHECK (sensitivity IN ({_in_list(SENSITIVITIES)})),
            commissioned_on date,
            decommissioned_on date,
            attributes jsonb NOT NULL DEFAULT '{{}}' CHECK (jsonb_typeof(attributes) = 'object'),
            geom geometry(Geometry, 25832) NOT NULL CHECK (ST_IsValid(geom) AND NOT ST_IsEmpty(geom)),
            submission_id uuid REFERENCES submissions(id),
            version integer NOT NULL DEFAULT 1 CHECK (version >= 1),
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            retired_at timestamptz,
            PRIMARY KEY (id, kind),
            UNIQUE (operator, kind, external_id)
        ) PARTITION BY LIST (kind);
        CREATE INDEX assets_geom_idx ON assets USING gist (geom);
        CREATE INDEX assets_municipality_idx ON assets (municipality);
        CREATE INDEX assets_status_idx ON assets (status);

        -- Every version of every asset; columns of assets first (keep in step when assets changes).
        CREATE TABLE asset_history (
            LIKE assets,
            valid_from timestamptz NOT NULL,
            valid_to timestamptz,
            actor text NOT NULL,
            operation text NOT NULL CHECK (operation IN ('create', 'update', 'retire')),
            history_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY
        );
        CREATE INDEX asset_history_id_idx ON asset_history (id, valid_from);
        CREATE INDEX asset_history_kind_time_idx ON asset_history (kind, valid_from, valid_to);
        CREATE INDEX asset_history_geom_idx ON asset_history USING gist (geom);

        CREATE FUNCTION assets_guard() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'DELETE' THEN
                RAISE EXCEPTION 'assets are retired, never deleted (asset %)', OLD.id
                    USING ERRCODE = 'restrict_violation';
            END IF;
            IF NEW.id <> OLD.id OR NEW.kind <> OLD.kind THEN
                RAISE EXCEPTION 'id and kind of an asset never change' USING ERRCODE = 'check_violation';
            END IF;
            IF NEW.version <> OLD.version + 1 THEN
                RAISE EXCEPTION 'every change of asset % must raise its version by one', OLD.id
                    USING ERRCODE = 'check_violation';
            END IF;
            NEW.updated_at := now();
            RETURN NEW;
        END $$;
        CREATE TRIGGER assets_guard BEFORE UPDATE OR DELETE ON assets
            FOR EACH ROW EXECUTE FUNCTION assets_guard();

        CREATE FUNCTION assets_history() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            who text := coalesce(nullif(current_setting('netzatlas.actor', true), ''), session_user::text);
            what text := 'create';
        BEGIN
            IF TG_OP = 'UPDATE' THEN
                UPDATE asset_history SET valid_to = now() WHERE id = OLD.id AND valid_to IS NULL;
                what := CASE WHEN NEW.retired_at IS NOT NULL AND OLD.retired_at IS NULL THEN 'retire' ELSE 'update' END;
            END IF;
            INSERT INTO asset_history SELECT NEW.*, now(), NULL, who, what;
            RETURN NULL;
        END $$;
        CREATE TRIGGER assets_history AFTER INSERT OR UPDATE ON assets
            FOR EACH ROW EXECUTE FUNCTION assets_history();
        """
    )
    for partition, kind, geometry in PARTITIONS:
        op.execute(
            f"""
            CREATE TABLE {partition} PARTITION OF assets FOR VALUES IN ('{kind}');
            ALTER TABLE {partition} ADD CONSTRAINT {partition}_geom_type
                CHECK (GeometryType(geom) = '{geometry}');
            """
        )
    sector_columns = ", ".join(f"{name} {sql_type}" for name, sql_type in SECTOR_COLUMNS)
    op.execute(
        f"""
        CREATE VIEW radio_sectors AS
        SELECT a.id AS site_id, a.external_id AS site_external_id, a.operator, a.municipality, a.status,
               a.sensitivity, a.geom, s.*
        FROM assets a, jsonb_to_recordset(coalesce(a.attributes->'sectors', '[]')) AS s({sector_columns})
        WHERE a.kind = 'mobile-sites' AND a.retired_at IS NULL;
        """
    )


def downgrade() -> None:
    op.execute(
        """
        DROP VIEW IF EXISTS radio_sectors;
        DROP TABLE IF EXISTS asset_history;
        DROP TABLE IF EXISTS assets;
        DROP FUNCTION IF EXISTS assets_history();
        DROP FUNCTION IF EXISTS assets_guard();
        DROP TABLE IF EXISTS submissions, api_keys, operators, buildings, population_cells, districts, municipalities;
        """
    )
