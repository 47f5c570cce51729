"""pades: the lab's time-stamping authority and the lab CA's revocation lists.

Revision ID: 0016_pades
Revises: 0015_work_orders
Create Date: 2026-12-05 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import lims.db.types
from migrations.guards import drop_refuse_changes, refuse_changes

revision: str = "0016_pades"
down_revision: str | None = "0015_work_orders"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "timestamp_authorities",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("authority_id", sa.Integer(), nullable=False),
        sa.Column("certificate_pem", sa.Text(), nullable=False),
        sa.Column("key_pem", sa.Text(), nullable=False),
        sa.Column("fingerprint_sha256", sa.String(length=64), nullable=False),
        sa.Column("not_after", lims.db.types.UTCDateTime(), nullable=False),
        sa.Column("created_at", lims.db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["authority_id"],
            ["lab_authorities.id"],
            name=op.f("fk_timestamp_authorities_authority_id_lab_authorities"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_timestamp_authorities")),
        sa.UniqueConstraint(
            "fingerprint_sha256", name=op.f("uq_timestamp_authorities_fingerprint_sha256")
        ),
    )
    op.create_table(
        "revocation_lists",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("authority_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("crl_der", sa.LargeBinary(), nullable=False),
        sa.Column("this_update", lims.db.types.UTCDateTime(), nullable=False),
        sa.Column("next_update", lims.db.types.UTCDateTime(), nullable=False),
        sa.Column("created_at", lims.db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["authority_id"],
            ["lab_authorities.id"],
            name=op.f("fk_revocation_lists_authority_id_lab_authorities"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_revocation_lists")),
    )
    op.create_index(
        op.f("ix_revocation_lists_authority_id"), "revocation_lists", ["authority_id"]
    )
    for table in ("timestamp_authorities", "revocation_lists"):
        refuse_changes(op.get_bind(), table)


def downgrade() -> None:
    for table in ("revocation_lists", "timestamp_authorities"):
        drop_refuse_changes(op.get_bind(), table)
    op.drop_index(op.f("ix_revocation_lists_authority_id"), table_name="revocation_lists")
    op.drop_table("revocation_lists")
    op.drop_table("timestamp_authorities")
