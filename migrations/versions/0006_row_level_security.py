"""Database roles and row-level security: who may see which rows is decided by PostgreSQL itself.

- `netzatlas_app` is the role the API, the CLI and the coverage engine connect as: no superuser, no
  DDL, no BYPASSRLS, DML only where the application writes. The superuser runs migrations and backups.
- Each connection states its caller in two settings, `netzatlas.caller` (anonymous when empty,
  partner, planner, admin, system, system-public) and `netzatlas.operator` (a partner's operator).
  The policies below read them, so that a query that forgets a filter still sees only what the caller
  may see. An unset caller is anonymous: forgetting to state the caller exposes public rows only.
  `system` is the coverage engine and the CLI (they read every input); `system-public` is the engine
  computing a run from public inputs only.
- Assets (and each partition, which the API queries directly): public rows for everyone, everything
  for planners, admins and the system, public plus their own operator's rows for partners. Writes:
  planners, admins, the system, partners for their own operator.
- History: a version is visible when it was visible then *and* the asset is visible now (the
  subquery on assets applies the assets' policy): `asOf` is never laxer than the present.
- Coverage runs carry `sensitivity`, the highest sensitivity of the assets of the kinds the analysis
  reads in its municipality (set by a trigger when the run is created and raised whenever its status
  changes, never lowered), or `public` for runs computed from public inputs only. A planner may
  `publish` a run: its aggregates (100 m cells, districts) become public, its rasters, gap polygons and
  per-building and per-device results do not.
- Trigger functions that maintain history, change stamps and references run as their owner (SECURITY
  DEFINER: like a declared foreign key, a reference check must see rows the caller cannot), and every
  function of the schema has a fixed search_path, so that a dump restored under another search_path
  (pg_restore sets an empty one) evaluates them the same.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

APP_ROLE = "netzatlas_app"
CALLER = "coalesce(current_setting('netzatlas.caller', true), '')"
OPERATOR = "current_setting('netzatlas.operator', true)"
SEES_ALL = f"{CALLER} IN ('planner', 'admin', 'system')"
WRITES_ALL = f"{CALLER} IN ('planner', 'admin', 'system')"
OWN = f"({CALLER} = 'partner' AND operator = {OPERATOR})"
ENGINE = f"{CALLER} IN ('planner', 'admin', 'system', 'system-public')"

# The asset kinds each analysis reads (values of assets.kind at this revision).
ANALYSIS_KINDS = {
    "fiber": ("fiber-routes", "network-nodes"),
    "mobile": ("mobile-sites",),
    "iot": ("sensors", "actuators", "iot-gateways", "mobile-sites", "fiber-routes", "network-nodes"),
}
# Tables the application writes, with the statements it needs; every table may be read.
WRITES = {
    "municipalities": "INSERT, UPDATE",
    "districts": "INSERT, UPDATE",
    "buildings": "INSERT, UPDATE",
    "population_cells": "INSERT, UPDATE",
    "operators": "INSERT, UPDATE",
    "api_keys": "INSERT, UPDATE",
    "submissions": "INSERT, UPDATE",
    "assets": "INSERT, UPDATE",
    "inspire_cells": "INSERT",
    "coverage_runs": "INSERT, UPDATE, DELETE",
    "coverage_cells": "INSERT, UPDATE, DELETE",
    "coverage_districts": "INSERT, UPDATE, DELETE",
    "coverage_gaps": "INSERT, UPDATE, DELETE",
    "coverage_buildings": "INSERT, UPDATE, DELETE",
    "coverage_devices": "INSERT, UPDATE, DELETE",
}
# Trigger functions that write tables the caller may not write or see rows the caller may not see.
DEFINER_FUNCTIONS = (
    "refs_check()",
    "refs_parent()",
    "assets_history_insert()",
    "assets_history_update()",
    "assets_guard()",
    "layer_changed()",
    "coverage_run_sensitivity()",
)
# PostGIS's bounding-box operators (&&, ~, @) are not marked LEAKPROOF, and under row-level security
# PostgreSQL uses an index only for leakproof conditions: without this every bbox query would scan
# its whole table. They compare boxes and raise no error that depends on a row's values (mixed SRIDs
# compare without error; every stored geometry has SRID 25832), so they leak nothing.
LEAKPROOF = (
    "geometry_overlaps(geometry, geometry)",
    "geometry_contains(geometry, geometry)",
    "geometry_within(geometry, geometry)",
)
RUN_RESULTS_AGGREGATE = ("coverage_cells", "coverage_districts")
RUN_RESULTS_DETAIL = ("coverage_gaps", "coverage_buildings", "coverage_devices")


def _asset_tables() -> list[str]:
    """The assets table and its partitions, read from the catalog (the kinds of this revision)."""
    rows = op.get_bind().exec_driver_sql(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = 'assets'::regclass ORDER BY 1"
    )
    return ["assets", *(r[0] for r in rows)]


def upgrade() -> None:
    op.execute(
        f"""
        DO $$ BEGIN
            IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
                CREATE ROLE {APP_ROLE} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS;
            END IF;
        END $$;
        DO $$ BEGIN
            EXECUTE format('GRANT CONNECT, TEMPORARY ON DATABASE %I TO {APP_ROLE}', current_database());
        END $$;
        GRANT USAGE ON SCHEMA public TO {APP_ROLE};
        GRANT SELECT ON ALL TABLES IN SCHEMA public TO {APP_ROLE};
        GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {APP_ROLE};
        """
    )
    for table, privileges in WRITES.items():
        op.execute(f"GRANT {privileges} ON {table} TO {APP_ROLE}")

    # -- coverage runs: the sensitivity of their inputs, and an explicit published state
    kinds_case = " ".join(
        f"WHEN '{a}' THEN ARRAY[{', '.join(repr(k) for k in kinds)}]" for a, kinds in ANALYSIS_KINDS.items()
    )
    op.execute(
        f"""
        ALTER TABLE coverage_runs
            ADD COLUMN sensitivity text NOT NULL DEFAULT 'critical'
                CHECK (sensitivity IN ('public', 'internal', 'critical')),
            ADD COLUMN published_at timestamptz,
            ADD COLUMN published_by text;
        -- existing runs: the inputs they read are those of now, the best that can be known
        UPDATE coverage_runs r SET sensitivity = s.found FROM (
            SELECT r2.id, CASE max(CASE a.sensitivity WHEN 'critical' THEN 3 WHEN 'internal' THEN 2 ELSE 1 END)
                       WHEN 3 THEN 'critical' WHEN 2 THEN 'internal' ELSE 'public' END AS found
              FROM coverage_runs r2 LEFT JOIN assets a
                ON a.municipality = r2.municipality
               AND a.retired_at IS NULL AND a.kind = ANY(CASE r2.analysis {kinds_case} ELSE ARRAY[]::text[] END)
             GROUP BY r2.id) s
        WHERE s.id = r.id AND r.sensitivity <> s.found;

        CREATE FUNCTION coverage_run_sensitivity() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            found text;
        BEGIN
            IF NEW.parameters ->> 'inputs' = 'public' THEN
                NEW.sensitivity := 'public';
                RETURN NEW;
            END IF;
            IF TG_OP = 'UPDATE' AND NEW.status IS NOT DISTINCT FROM OLD.status THEN
                NEW.sensitivity := OLD.sensitivity;  -- progress and publishing leave it as it is
                RETURN NEW;
            END IF;
            SELECT CASE max(CASE a.sensitivity WHEN 'critical' THEN 3 WHEN 'internal' THEN 2 ELSE 1 END)
                       WHEN 3 THEN 'critical' WHEN 2 THEN 'internal' ELSE 'public' END
              INTO found
              FROM assets a
             WHERE a.municipality = NEW.municipality AND a.retired_at IS NULL
               AND a.kind = ANY(CASE NEW.analysis {kinds_case} ELSE ARRAY[]::text[] END);
            IF TG_OP = 'INSERT' THEN
                NEW.sensitivity := found;
            ELSE
                -- inputs may have been added while the run waited or ran: raise, never lower
                NEW.sensitivity := CASE greatest(
                        CASE OLD.sensitivity WHEN 'critical' THEN 3 WHEN 'internal' THEN 2 ELSE 1 END,
                        CASE found WHEN 'critical' THEN 3 WHEN 'internal' THEN 2 ELSE 1 END)
                    WHEN 3 THEN 'critical' WHEN 2 THEN 'internal' ELSE 'public' END;
            END IF;
            RETURN NEW;
        END $$;
        CREATE TRIGGER coverage_runs_sensitivity BEFORE INSERT OR UPDATE ON coverage_runs
            FOR EACH ROW EXECUTE FUNCTION coverage_run_sensitivity();
        """
    )

    # -- functions: fixed search_path everywhere; definer rights for the maintenance triggers
    op.execute(
        """
        DO $$ DECLARE f record; BEGIN
            FOR f IN SELECT p.oid::regprocedure AS sig FROM pg_proc p
                     WHERE p.pronamespace = 'public'::regnamespace
                       AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')
            LOOP
                EXECUTE format('ALTER FUNCTION %s SET search_path = public, pg_temp', f.sig);
            END LOOP;
        END $$;
        """
    )
    for fn in DEFINER_FUNCTIONS:
        op.execute(f"ALTER FUNCTION {fn} SECURITY DEFINER")

    for fn in LEAKPROOF:
        op.execute(f"ALTER FUNCTION {fn} LEAKPROOF")

    # -- row-level security
    for table in _asset_tables():
        op.execute(
            f"""
            ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;
            CREATE POLICY read ON {table} FOR SELECT USING (sensitivity = 'public' OR {SEES_ALL} OR {OWN});
            CREATE POLICY add ON {table} FOR INSERT WITH CHECK ({WRITES_ALL} OR {OWN});
            CREATE POLICY change ON {table} FOR UPDATE USING ({WRITES_ALL} OR {OWN}) WITH CHECK ({WRITES_ALL} OR {OWN});
            """
        )
    op.execute(
        f"""
        ALTER TABLE asset_history ENABLE ROW LEVEL SECURITY;
        CREATE POLICY read ON asset_history FOR SELECT USING (
            (sensitivity = 'public' OR {SEES_ALL} OR {OWN})
            AND EXISTS (SELECT 1 FROM assets a WHERE a.id = asset_history.id AND a.kind = asset_history.kind));

        ALTER TABLE submissions ENABLE ROW LEVEL SECURITY;
        CREATE POLICY read ON submissions FOR SELECT USING ({SEES_ALL} OR {OWN});
        CREATE POLICY add ON submissions FOR INSERT WITH CHECK ({SEES_ALL} OR {OWN});
        CREATE POLICY change ON submissions FOR UPDATE USING ({SEES_ALL} OR {OWN}) WITH CHECK ({SEES_ALL} OR {OWN});

        ALTER TABLE coverage_runs ENABLE ROW LEVEL SECURITY;
        CREATE POLICY read ON coverage_runs FOR SELECT
            USING (sensitivity = 'public' OR published_at IS NOT NULL OR {SEES_ALL});
        CREATE POLICY add ON coverage_runs FOR INSERT WITH CHECK ({ENGINE});
        CREATE POLICY change ON coverage_runs FOR UPDATE USING ({ENGINE}) WITH CHECK ({ENGINE});
        CREATE POLICY remove ON coverage_runs FOR DELETE USING ({ENGINE});
        """
    )
    for table in (*RUN_RESULTS_AGGREGATE, *RUN_RESULTS_DETAIL):
        # aggregates follow the run's visibility (published included); details need the run's own level
        visible_runs = (
            "SELECT r.id FROM coverage_runs r"
            if table in RUN_RESULTS_AGGREGATE
            else f"SELECT r.id FROM coverage_runs r WHERE r.sensitivity = 'public' OR {SEES_ALL}"
        )
        op.execute(
            f"""
            ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;
            CREATE POLICY read ON {table} FOR SELECT USING (run_id IN ({visible_runs}));
            CREATE POLICY add ON {table} FOR INSERT WITH CHECK ({ENGINE});
            CREATE POLICY change ON {table} FOR UPDATE USING ({ENGINE}) WITH CHECK ({ENGINE});
            CREATE POLICY remove ON {table} FOR DELETE USING ({ENGINE});
            """
        )


def downgrade() -> None:
    for table in (*RUN_RESULTS_AGGREGATE, *RUN_RESULTS_DETAIL, "coverage_runs", "submissions"):
        op.execute(
            f"""
            DROP POLICY IF EXISTS read ON {table}; DROP POLICY IF EXISTS add ON {table};
            DROP POLICY IF EXISTS change ON {table}; DROP POLICY IF EXISTS remove ON {table};
            ALTER TABLE {table} DISABLE ROW LEVEL SECURITY;
            """
        )
    op.execute("DROP POLICY IF EXISTS read ON asset_history; ALTER TABLE asset_history DISABLE ROW LEVEL SECURITY")
    for table in _asset_tables():
        op.execute(
            f"""
            DROP POLICY IF EXISTS read ON {table}; DROP POLICY IF EXISTS add ON {table};
            DROP POLICY IF EXISTS change ON {table};
            ALTER TABLE {table} DISABLE ROW LEVEL SECURITY;
            """
        )
    for fn in LEAKPROOF:
        op.execute(f"ALTER FUNCTION {fn} NOT LEAKPROOF")
    for fn in DEFINER_FUNCTIONS[:-1]:
        op.execute(f"ALTER FUNCTION {fn} SECURITY INVOKER")
    op.execute(
        """
        DROP TRIGGER coverage_runs_sensitivity ON coverage_runs;
        DROP FUNCTION coverage_run_sensitivity();
        ALTER TABLE coverage_runs DROP COLUMN sensitivity, DROP COLUMN published_at, DROP COLUMN published_by;
        DO $$ DECLARE f record; BEGIN
            FOR f IN SELECT p.oid::regprocedure AS sig FROM pg_proc p
                     WHERE p.pronamespace = 'public'::regnamespace
                       AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')
            LOOP
                EXECUTE format('ALTER FUNCTION %s RESET search_path', f.sig);
            END LOOP;
        END $$;
        """
    )
    # the role is shared by every database of the cluster: drop only what it holds here
    op.execute(f"DROP OWNED BY {APP_ROLE}")
