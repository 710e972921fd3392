"""Set-based integrity for the bulk-written tables: references and asset history per statement.

Imports write assets and coverage runs write results by the hundred thousand in one statement. A
declared foreign key checks (and locks) its parent once per row, and the row-level history trigger
runs once per row; both cost more than the write itself. Here the same rules run once per statement,
over the statement's transition tables:

- `refs_check` (child side, after INSERT and after UPDATE): every new value must exist in the parent.
  The parent rows are locked FOR KEY SHARE first, once per distinct value, as the per-row check would,
  so that a concurrent delete of a parent waits for this transaction.
- `refs_parent` (parent side, after DELETE, UPDATE and TRUNCATE): children of removed keys are
  deleted (cascade) or the statement fails (restrict).
- `assets_history_insert` / `assets_history_update`: the history rows of a whole statement at once.

A statement trigger fires only for the table a statement names, so the asset triggers are on the
partitioned table and on each partition.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

COVERAGE_RESULTS = ("coverage_cells", "coverage_districts", "coverage_gaps", "coverage_buildings", "coverage_devices")
# the assets table and its partitions at this revision (one per asset kind, created by migration 0001)
ASSET_TABLES = (
    "assets",
    "assets_fiber_routes",
    "assets_network_nodes",
    "assets_mobile_sites",
    "assets_sensors",
    "assets_actuators",
    "assets_iot_gateways",
)

# (child table, column, parent table, parent key, on delete); the declared foreign keys these replace
# were named <child>_<column>_fkey.
REFERENCES = [
    *((t, "run_id", "coverage_runs", "id", "cascade") for t in COVERAGE_RESULTS),
    ("coverage_cells", "cell_id", "inspire_cells", "id", "restrict"),
    ("assets", "operator", "operators", "id", "restrict"),
    ("assets", "municipality", "municipalities", "ags", "restrict"),
    ("assets", "submission_id", "submissions", "id", "restrict"),
]


def _children(table: str) -> tuple[str, ...]:
    return ASSET_TABLES if table == "assets" else (table,)


def upgrade() -> None:
    op.execute(
        """
        CREATE FUNCTION refs_check() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            col text := TG_ARGV[0];
            parent text := TG_ARGV[1];
            pkey text := TG_ARGV[2];
            typ text;
            vals text[];
            missing text;
        BEGIN
            -- one pass over the statement's rows: the distinct values, then lock and look up each once
            SELECT format_type(a.atttypid, a.atttypmod) INTO typ
            FROM pg_attribute a WHERE a.attrelid = TG_RELID AND a.attname = col;
            EXECUTE format('SELECT array_agg(DISTINCT n.%I::text) FROM new_rows n WHERE n.%I IS NOT NULL', col, col)
                INTO vals;
            IF vals IS NULL THEN
                RETURN NULL;
            END IF;
            EXECUTE format('SELECT count(*) FROM (SELECT 1 FROM %I p WHERE p.%I = ANY($1::%s[]) FOR KEY SHARE OF p) l',
                           parent, pkey, typ) USING vals;
            EXECUTE format('SELECT v FROM unnest($1::%s[]) v WHERE NOT EXISTS (SELECT 1 FROM %I p WHERE p.%I = v)
                            LIMIT 1', typ, parent, pkey) USING vals INTO missing;
            IF missing IS NOT NULL THEN
                RAISE EXCEPTION 'insert or update on table "%" violates reference %', TG_TABLE_NAME,
                        TG_TABLE_NAME || '_' || col || '_ref'
                    USING ERRCODE = 'foreign_key_violation',
                          DETAIL = format('Key (%s)=(%s) is not present in table "%s".', col, missing, parent),
                          CONSTRAINT = TG_TABLE_NAME || '_' || col || '_ref', TABLE = TG_TABLE_NAME, COLUMN = col;
            END IF;
            RETURN NULL;
        END $$;

        CREATE FUNCTION refs_parent() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            child text := TG_ARGV[0];
            col text := TG_ARGV[1];
            pkey text := TG_ARGV[2];
            action text := TG_ARGV[3];
            -- the keys this statement removed (deleted, or changed by an update)
            gone_sql text := format(
                'SELECT o.%I FROM old_rows o WHERE NOT EXISTS (SELECT 1 FROM %I p WHERE p.%I = o.%I)',
                pkey, TG_TABLE_NAME, pkey, pkey);
            any_gone boolean;
            still text;
        BEGIN
            IF TG_OP = 'TRUNCATE' THEN
                IF action = 'cascade' THEN
                    EXECUTE format('DELETE FROM %I', child);
                ELSE
                    EXECUTE format('SELECT c.%I::text FROM %I c WHERE c.%I IS NOT NULL LIMIT 1', col, child, col)
                        INTO still;
                END IF;
                any_gone := false;
            ELSE
                EXECUTE format('SELECT EXISTS (%s)', gone_sql) INTO any_gone;
            END IF;
            IF any_gone AND action = 'cascade' AND TG_OP = 'DELETE' THEN
                EXECUTE format('DELETE FROM %I c WHERE c.%I IN (%s)', child, col, gone_sql);
            ELSIF any_gone THEN
                EXECUTE format('SELECT c.%I::text FROM %I c WHERE c.%I IN (%s) LIMIT 1', col, child, col, gone_sql)
                    INTO still;
            END IF;
            IF still IS NOT NULL THEN
                RAISE EXCEPTION 'update or delete on table "%" violates reference % on table "%"',
                        TG_TABLE_NAME, child || '_' || col || '_ref', child
                    USING ERRCODE = 'foreign_key_violation',
                          DETAIL = format('Key (%s)=(%s) is still referenced from table "%s".', pkey, still, child),
                          CONSTRAINT = child || '_' || col || '_ref';
            END IF;
            RETURN NULL;
        END $$;

        CREATE FUNCTION assets_history_insert() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO asset_history
            SELECT n.*, now(), NULL,
                   coalesce(nullif(current_setting('netzatlas.actor', true), ''), session_user::text), 'create'
            FROM new_rows n;
            RETURN NULL;
        END $$;

        CREATE FUNCTION assets_history_update() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            UPDATE asset_history h SET valid_to = now()
            FROM old_rows o WHERE h.id = o.id AND h.valid_to IS NULL;
            INSERT INTO asset_history
            SELECT n.*, now(), NULL,
                   coalesce(nullif(current_setting('netzatlas.actor', true), ''), session_user::text),
                   CASE WHEN n.retired_at IS NOT NULL AND o.retired_at IS NULL THEN 'retire' ELSE 'update' END
            FROM new_rows n JOIN old_rows o ON o.id = n.id AND o.kind = n.kind;
            RETURN NULL;
        END $$;

        DROP TRIGGER assets_history ON assets;
        DROP FUNCTION assets_history();
        """
    )
    for table in ASSET_TABLES:
        op.execute(
            f"""
            CREATE TRIGGER history_insert AFTER INSERT ON {table} REFERENCING NEW TABLE AS new_rows
                FOR EACH STATEMENT EXECUTE FUNCTION assets_history_insert();
            CREATE TRIGGER history_update AFTER UPDATE ON {table} REFERENCING OLD TABLE AS old_rows
                NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION assets_history_update();
            """
        )
    for child, col, parent, key, action in REFERENCES:
        if parent != "inspire_cells":
            op.execute(f"ALTER TABLE {child} DROP CONSTRAINT {child}_{col}_fkey")
        for table in _children(child):
            op.execute(
                f"""
                CREATE TRIGGER ref_{col}_insert AFTER INSERT ON {table} REFERENCING NEW TABLE AS new_rows
                    FOR EACH STATEMENT EXECUTE FUNCTION refs_check('{col}', '{parent}', '{key}');
                CREATE TRIGGER ref_{col}_update AFTER UPDATE ON {table} REFERENCING NEW TABLE AS new_rows
                    FOR EACH STATEMENT EXECUTE FUNCTION refs_check('{col}', '{parent}', '{key}');
                """
            )
        op.execute(
            f"""
            CREATE TRIGGER ref_{child}_{col}_delete AFTER DELETE ON {parent} REFERENCING OLD TABLE AS old_rows
                FOR EACH STATEMENT EXECUTE FUNCTION refs_parent('{child}', '{col}', '{key}', '{action}');
            CREATE TRIGGER ref_{child}_{col}_update AFTER UPDATE ON {parent} REFERENCING OLD TABLE AS old_rows
                FOR EACH STATEMENT EXECUTE FUNCTION refs_parent('{child}', '{col}', '{key}', 'restrict');
            CREATE TRIGGER ref_{child}_{col}_truncate AFTER TRUNCATE ON {parent}
                FOR EACH STATEMENT EXECUTE FUNCTION refs_parent('{child}', '{col}', '{key}', '{action}');
            """
        )


def downgrade() -> None:
    for child, col, parent, key, action in REFERENCES:
        op.execute(
            f"""
            DROP TRIGGER ref_{child}_{col}_delete ON {parent};
            DROP TRIGGER ref_{child}_{col}_update ON {parent};
            DROP TRIGGER ref_{child}_{col}_truncate ON {parent};
            """
        )
        for table in _children(child):
            op.execute(f"DROP TRIGGER ref_{col}_insert ON {table}; DROP TRIGGER ref_{col}_update ON {table};")
        if parent != "inspire_cells":
            cascade = " ON DELETE CASCADE" if action == "cascade" else ""
            op.execute(
                f"ALTER TABLE {child} ADD CONSTRAINT {child}_{col}_fkey FOREIGN KEY ({col}) "
                f"REFERENCES {parent} ({key}){cascade}"
            )
    for table in ASSET_TABLES:
        op.execute(f"DROP TRIGGER history_insert ON {table}; DROP TRIGGER history_update ON {table};")
    op.execute(
        """
        DROP FUNCTION assets_history_insert(), assets_history_update(), refs_check(), refs_parent();
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
