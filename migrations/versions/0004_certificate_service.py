"""certificate service: the lab CA, users' signing credentials, the lab's city and e-mail, files stored by hash,
certificates' content record, drafter, customer and instrument; the issued-certificate guard extended to
the validity date, the content record and the drafter.

Revision ID: 0004
Revises: 0003_quality
Create Date: 2026-11-22 07:43:50.822413
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

import lims.db.types
from migrations.guards import (
    CERT_FIXED_COLUMNS_0004,
    drop_certificate_guard,
    drop_refuse_changes,
    guard_issued_certificates,
    refuse_changes,
)

revision: str = "0004"
down_revision: str | None = "0003_quality"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPEND_ONLY = ("lab_authorities", "signing_credentials", "stored_files")


def upgrade() -> None:
    op.create_table(
        "lab_authorities",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("common_name", sa.String(length=200), nullable=False),
        sa.Column("certificate_pem", sa.Text(), nullable=False),
        sa.Column("encrypted_key_pem", sa.Text(), nullable=False),
        sa.Column("fingerprint_sha256", sa.String(length=64), nullable=False),
        sa.Column("imported", sa.Boolean(), nullable=False),
        sa.Column("created_at", lims.db.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lab_authorities")),
        sa.UniqueConstraint(
            "fingerprint_sha256", name=op.f("uq_lab_authorities_fingerprint_sha256")
        ),
    )
    op.create_table(
        "stored_files",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("media_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", lims.db.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("sha256", name=op.f("pk_stored_files")),
    )
    op.create_table(
        "signing_credentials",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("authority_id", sa.Integer(), nullable=False),
        sa.Column("pkcs12", sa.LargeBinary(), nullable=False),
        sa.Column("certificate_pem", sa.Text(), nullable=False),
        sa.Column("fingerprint_sha256", sa.String(length=64), nullable=False),
        sa.Column("not_after", lims.db.types.UTCDateTime(), nullable=False),
        sa.Column("imported", sa.Boolean(), nullable=False),
        sa.Column("created_at", lims.db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["authority_id"],
            ["lab_authorities.id"],
            name=op.f("fk_signing_credentials_authority_id_lab_authorities"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_signing_credentials_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signing_credentials")),
    )
    op.create_index(
        op.f("ix_signing_credentials_fingerprint_sha256"),
        "signing_credentials",
        ["fingerprint_sha256"],
        unique=False,
    )
    op.create_index(
        op.f("ix_signing_credentials_user_id"), "signing_credentials", ["user_id"], unique=False
    )
    bind = op.get_bind()
    for table in APPEND_ONLY:
        refuse_changes(bind, table)
    op.add_column(
        "lab_profile",
        sa.Column("email", sa.String(length=200), nullable=False, server_default=""),
    )
    op.add_column(
        "lab_profile",
        sa.Column("city", sa.String(length=100), nullable=False, server_default=""),
    )

    # SQLite cannot add a foreign key without rebuilding the table, and a rebuild
    # would drop its triggers: drop the guard, rebuild, then guard the new columns too.
    drop_certificate_guard(bind)
    json_type = sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql")
    with op.batch_alter_table("certificates", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("content", json_type, nullable=False, server_default=sa.text("'{}'"))
        )
        batch_op.add_column(sa.Column("drafted_by_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("customer_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("equipment_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_certificates_drafted_by_id_users"), "users", ["drafted_by_id"], ["id"]
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_certificates_customer_id_customers"), "customers", ["customer_id"], ["id"]
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_certificates_equipment_id_equipment"), "equipment", ["equipment_id"], ["id"]
        )
    with op.batch_alter_table("certificates", schema=None) as batch_op:
        batch_op.alter_column("content", server_default=None)
    guard_issued_certificates(bind, CERT_FIXED_COLUMNS_0004)


def downgrade() -> None:
    bind = op.get_bind()
    drop_certificate_guard(bind)
    with op.batch_alter_table("certificates", schema=None) as batch_op:
        for name in ("drafted_by_id_users", "customer_id_customers", "equipment_id_equipment"):
            batch_op.drop_constraint(batch_op.f(f"fk_certificates_{name}"), type_="foreignkey")
        batch_op.drop_column("equipment_id")
        batch_op.drop_column("customer_id")
        batch_op.drop_column("drafted_by_id")
        batch_op.drop_column("content")
    guard_issued_certificates(bind)
    with op.batch_alter_table("lab_profile", schema=None) as batch_op:
        batch_op.drop_column("city")
        batch_op.drop_column("email")
    for table in APPEND_ONLY:
        drop_refuse_changes(bind, table)
    op.drop_index(op.f("ix_signing_credentials_user_id"), table_name="signing_credentials")
    op.drop_index(
        op.f("ix_signing_credentials_fingerprint_sha256"), table_name="signing_credentials"
    )
    op.drop_table("signing_credentials")
    op.drop_table("stored_files")
    op.drop_table("lab_authorities")
