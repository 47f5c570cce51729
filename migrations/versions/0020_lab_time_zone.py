"""the lab's time zone: certificate dates (performance, issue, validity) are its local dates.

Revision ID: 0020_lab_time_zone
Revises: 0013_run_plans
Create Date: 2026-12-05 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020_lab_time_zone"
down_revision: str | None = "0013_run_plans"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("lab_profile") as batch:
        batch.add_column(
            sa.Column(
                "time_zone", sa.String(length=64), nullable=False, server_default="Asia/Shanghai"
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("lab_profile") as batch:
        batch.drop_column("time_zone")
