"""Change stamps per layer: a counter raised by every statement that writes the layer.

Caches keyed by the stamp (whole-collection counts now, tiles later) are invalidated by any write,
whichever process made it, at the price of one indexed lookup.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

LAYERS = ("assets", "municipalities", "districts", "buildings", "population_cells")


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE layer_changes (
            layer text PRIMARY KEY,
            counter bigint NOT NULL DEFAULT 0,
            changed_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE FUNCTION layer_changed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO layer_changes (layer, counter, changed_at) VALUES (TG_TABLE_NAME, 1, now())
            ON CONFLICT (layer) DO UPDATE SET counter = layer_changes.counter + 1, changed_at = now();
            RETURN NULL;
        END $$;
        """
    )
    for layer in LAYERS:
        op.execute(
            f"""
            INSERT INTO layer_changes (layer) VALUES ('{layer}');
            CREATE TRIGGER {layer}_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {layer}
                FOR EACH STATEMENT EXECUTE FUNCTION layer_changed();
            """
        )


def downgrade() -> None:
    for layer in LAYERS:
        op.execute(f"DROP TRIGGER IF EXISTS {layer}_changed ON {layer}")
    op.execute("DROP FUNCTION IF EXISTS layer_changed(); DROP TABLE IF EXISTS layer_changes;")
