"""work orders: their life cycle (received → in progress → certified → delivered, cancelled
with a reason) and an index for the paged board; the reading journal (readings acknowledged
at real-time pacing before they are sealed into the audited chains).

Revision ID: 0015_work_orders
Revises: 0017_layout
Create Date: 2026-12-05 09:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import lims.db.types

revision: str = "0015_work_orders"
down_revision: str | None = "0017_layout"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("work_orders") as batch:
        batch.add_column(sa.Column("status_reason", sa.Text(), nullable=False, server_default=""))
        batch.add_column(sa.Column("status_changed_at", lims.db.types.UTCDateTime(), nullable=True))
        batch.create_index("ix_work_orders_status_due", ["status", "due_on", "number"])
    # "completed" was never set by any release; the state is now "certified"
    op.execute("UPDATE work_orders SET status = 'certified' WHERE status = 'completed'")
    op.create_table(
        "reading_journal",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_reading_journal_run_id_runs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reading_journal")),
        sa.UniqueConstraint(
            "run_id", "kind", "seq", name=op.f("uq_reading_journal_run_id_kind_seq")
        ),
    )
    op.create_index(op.f("ix_reading_journal_run_id"), "reading_journal", ["run_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_reading_journal_run_id"), table_name="reading_journal")
    op.drop_table("reading_journal")
    op.execute("UPDATE work_orders SET status = 'completed' WHERE status = 'certified'")
    with op.batch_alter_table("work_orders") as batch:
        batch.drop_index("ix_work_orders_status_due")
        batch.drop_column("status_changed_at")
        batch.drop_column("status_reason")
