"""certificate layout: a work-order item records whether the customer asked for the
uncertainty budgets as an annex to the certificate.

Revision ID: 0017_layout
Revises: 0020_lab_time_zone
Create Date: 2026-12-05 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017_layout"
down_revision: str | None = "0020_lab_time_zone"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # a plain ADD COLUMN (SQLite can; recreating the table would break its references)
    op.add_column(
        "work_order_items",
        sa.Column("budget_annex", sa.Boolean(), nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    with op.batch_alter_table("work_order_items") as batch:
        batch.drop_column("budget_annex")
