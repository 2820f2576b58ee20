"""staff: ratings of completed visits, per booking and per mechanic

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 03:50:12.461175
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ratings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("booking_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("mechanic_id", sa.Integer(), nullable=True),
        sa.Column("stars", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["booking_id"], ["bookings.id"], name=op.f("fk_ratings_booking_id_bookings"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_ratings_customer_id_customers"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["mechanic_id"], ["staff.id"], name=op.f("fk_ratings_mechanic_id_staff")),
        sa.ForeignKeyConstraint(["shop_id"], ["shops.id"], name=op.f("fk_ratings_shop_id_shops"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ratings")),
        sa.UniqueConstraint("booking_id", name=op.f("uq_ratings_booking_id")),
    )
    with op.batch_alter_table("ratings", schema=None) as batch_op:
        batch_op.create_index("ix_ratings_mechanic", ["mechanic_id"], unique=False)
        batch_op.create_index("ix_ratings_shop_time", ["shop_id", "created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("ratings", schema=None) as batch_op:
        batch_op.drop_index("ix_ratings_shop_time")
        batch_op.drop_index("ix_ratings_mechanic")

    op.drop_table("ratings")
