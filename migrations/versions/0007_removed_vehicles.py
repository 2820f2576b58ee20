"""vehicles: a car the customer removed is kept for its history, marked removed

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 08:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("vehicles", schema=None) as batch_op:
        batch_op.add_column(sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    # Not a batch: on SQLite it would copy the table and drop the old one, which the
    # bookings' foreign keys to their cars forbid. SQLite drops a column itself (3.35+).
    op.execute("ALTER TABLE vehicles DROP COLUMN removed_at")
