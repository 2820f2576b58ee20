"""payments: provider requests, reconciliation schedule, Kaspi links, unique receipts

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 03:45:35.479496
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("provider_status", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("link", sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column("requested_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("next_check_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("give_up_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("check_interval_s", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("checks", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index("ix_payments_due", ["status", "next_check_at"], unique=False)
        batch_op.create_unique_constraint(
            batch_op.f("uq_payments_provider_receipt"), ["provider", "receipt"]
        )


def downgrade() -> None:
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_payments_provider_receipt"), type_="unique")
        batch_op.drop_index("ix_payments_due")
        batch_op.drop_column("updated_at")
        batch_op.drop_column("checks")
        batch_op.drop_column("check_interval_s")
        batch_op.drop_column("give_up_at")
        batch_op.drop_column("next_check_at")
        batch_op.drop_column("expires_at")
        batch_op.drop_column("requested_at")
        batch_op.drop_column("link")
        batch_op.drop_column("provider_status")
