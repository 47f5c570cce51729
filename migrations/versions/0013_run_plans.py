"""run plans: the frozen plan and the exact regulation table of every run, one owner per run
(a lease), the instruments' raw I/O record (kept by runs imported from a laptop too),
nameplate data (specs) of equipment.

Revision ID: 0013_run_plans
Revises: 0008_integrity
Create Date: 2026-12-05 07:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import lims.db.types
from migrations.guards import drop_refuse_changes, refuse_changes

revision: str = "0013_run_plans"
down_revision: str | None = "0008_integrity"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("equipment") as batch:
        batch.add_column(sa.Column("specs", JSON, nullable=False, server_default="{}"))
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("plan", JSON, nullable=False, server_default="{}"))
        batch.add_column(
            sa.Column("plan_sha256", sa.String(length=64), nullable=False, server_default="")
        )
        batch.add_column(sa.Column("regulation_table_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            op.f("fk_runs_regulation_table_id_regulation_tables"),
            "regulation_tables",
            ["regulation_table_id"],
            ["id"],
        )
    # Runs of earlier releases ran under their procedure version's table.
    op.execute(
        "UPDATE runs SET regulation_table_id = (SELECT pv.regulation_table_id FROM "
        "procedure_versions pv WHERE pv.id = runs.procedure_version_id)"
    )
    op.create_table(
        "run_leases",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("holder", sa.String(length=200), nullable=True),
        sa.Column("host", sa.String(length=100), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("taken_at", lims.db.types.UTCDateTime(), nullable=True),
        sa.Column("expires_at", lims.db.types.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name=op.f("fk_run_leases_run_id_runs")),
        sa.PrimaryKeyConstraint("run_id", name=op.f("pk_run_leases")),
    )
    op.create_table(
        "instrument_io",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("at", lims.db.types.UTCDateTime(), nullable=False),
        sa.Column("instrument", sa.String(length=100), nullable=False),
        sa.Column("operation", sa.String(length=32), nullable=False),
        sa.Column("sent", sa.LargeBinary(), nullable=False),
        sa.Column("received", sa.LargeBinary(), nullable=False),
        sa.Column("duration_s", sa.Float(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("chain_sha256", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_instrument_io_run_id_runs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_instrument_io")),
        sa.UniqueConstraint("run_id", "seq", name=op.f("uq_instrument_io_run_id_seq")),
    )
    refuse_changes(op.get_bind(), "instrument_io")
    # a run imported from a laptop keeps its instruments' I/O; its chain at the source
    op.add_column(
        "run_origins", sa.Column("io_count", sa.Integer(), nullable=False, server_default="0")
    )
    op.add_column(
        "run_origins",
        sa.Column("io_head", sa.String(length=64), nullable=False, server_default="0" * 64),
    )


def downgrade() -> None:
    drop_refuse_changes(op.get_bind(), "run_origins")
    with op.batch_alter_table("run_origins") as batch:
        batch.drop_column("io_head")
        batch.drop_column("io_count")
    refuse_changes(op.get_bind(), "run_origins")
    drop_refuse_changes(op.get_bind(), "instrument_io")
    op.drop_table("instrument_io")
    op.drop_table("run_leases")
    with op.batch_alter_table("runs") as batch:
        batch.drop_constraint(
            op.f("fk_runs_regulation_table_id_regulation_tables"), type_="foreignkey"
        )
        batch.drop_column("regulation_table_id")
        batch.drop_column("plan_sha256")
        batch.drop_column("plan")
    with op.batch_alter_table("equipment") as batch:
        batch.drop_column("specs")
