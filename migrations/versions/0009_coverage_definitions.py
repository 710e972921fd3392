"""Coverage definitions (issue #12): fiber "prepared" per building, the limiting link of IoT devices.

- coverage_buildings.prepared: not passed, but within the drop distance of an in-service route that carries no
  fibre (an empty duct or a trench), so fibre can be pulled in without civil works.
- coverage_devices.link: the link that limits the device (uplink, downlink); coupling_loss_db: the coupling loss
  that decided it (NB-IoT, LTE-M); link_class: the coverage enhancement level (CE0..CE2) or the LoRa spreading
  factor (SF7..SF12) that closes the link.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        ALTER TABLE coverage_buildings ADD COLUMN prepared boolean NOT NULL DEFAULT false;
        ALTER TABLE coverage_devices ADD COLUMN link text, ADD COLUMN coupling_loss_db double precision,
            ADD COLUMN link_class text;
        """
    )


def downgrade() -> None:
    op.execute(
        """
        ALTER TABLE coverage_devices DROP COLUMN link, DROP COLUMN coupling_loss_db, DROP COLUMN link_class;
        ALTER TABLE coverage_buildings DROP COLUMN prepared;
        """
    )
