"""Lowering an asset's sensitivity needs a planner, an admin or the system (CLI), whatever the write path.

A statement-level check over the statement's old and new rows (like the history triggers of 0005): if any
asset's sensitivity goes down (critical > internal > public) while the caller (netzatlas.caller, see
0006) is a partner or anonymous, the statement fails with insufficient_privilege naming the asset. The API
and the importer keep the current sensitivity when a change leaves it out; this makes an explicit lowering
by a partner an error, not a silent change.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

RANK = "CASE {} WHEN 'critical' THEN 3 WHEN 'internal' THEN 2 ELSE 1 END"


def _asset_tables() -> list[str]:
    rows = op.get_bind().exec_driver_sql(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = 'assets'::regclass ORDER BY 1"
    )
    return ["assets", *(r[0] for r in rows)]


def upgrade() -> None:
    op.execute(
        f"""
        CREATE FUNCTION assets_sensitivity_guard() RETURNS trigger LANGUAGE plpgsql
        SET search_path = public, pg_temp AS $$
        DECLARE
            lowered record;
        BEGIN
            IF coalesce(current_setting('netzatlas.caller', true), '') IN ('planner', 'admin', 'system') THEN
                RETURN NULL;
            END IF;
            SELECT n.id, o.sensitivity AS was, n.sensitivity AS now INTO lowered
              FROM new_rows n JOIN old_rows o ON o.id = n.id AND o.kind = n.kind
             WHERE {RANK.format("n.sensitivity")} < {RANK.format("o.sensitivity")}
             LIMIT 1;
            IF FOUND THEN
                RAISE EXCEPTION 'sensitivity of asset % cannot be lowered from % to % by this caller',
                        lowered.id, lowered.was, lowered.now
                    USING ERRCODE = 'insufficient_privilege',
                          HINT = 'a planner or admin key may lower it; leave sensitivity out to keep it';
            END IF;
            RETURN NULL;
        END $$;
        """
    )
    for table in _asset_tables():
        op.execute(
            f"""CREATE TRIGGER sensitivity_guard AFTER UPDATE ON {table}
                    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
                    FOR EACH STATEMENT EXECUTE FUNCTION assets_sensitivity_guard()"""
        )


def downgrade() -> None:
    for table in _asset_tables():
        op.execute(f"DROP TRIGGER sensitivity_guard ON {table}")
    op.execute("DROP FUNCTION assets_sensitivity_guard()")
