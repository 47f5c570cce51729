"""portal: customers' accounts and API tokens; certificates indexed by the certificate they replace
(the verification page names a superseded certificate's replacement).

Plain CREATE INDEX on certificates: a batch rebuild would drop its guard triggers on SQLite.

Revision ID: 0010_portal
Revises: 0011_traceability
Create Date: 2026-12-05 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import lims.db.types

revision: str = "0010_portal"
down_revision: str | None = "0011_traceability"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "customer_accounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=100), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("password_changed_at", lims.db.types.UTCDateTime(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        sa.Column("locked_at", lims.db.types.UTCDateTime(), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", lims.db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_customer_accounts_customer_id_customers")
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_customer_accounts_created_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_accounts")),
        sa.UniqueConstraint("username", name=op.f("uq_customer_accounts_username")),
    )
    op.create_index(
        op.f("ix_customer_accounts_customer_id"), "customer_accounts", ["customer_id"], unique=False
    )
    op.create_table(
        "customer_api_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("label", sa.String(length=100), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("revoked_at", lims.db.types.UTCDateTime(), nullable=True),
        sa.Column("created_at", lims.db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["customer_accounts.id"],
            name=op.f("fk_customer_api_tokens_account_id_customer_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_customer_api_tokens_created_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_api_tokens")),
        sa.UniqueConstraint("token_sha256", name=op.f("uq_customer_api_tokens_token_sha256")),
    )
    op.create_index(
        op.f("ix_customer_api_tokens_account_id"),
        "customer_api_tokens",
        ["account_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_certificates_replaces_id"), "certificates", ["replaces_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_certificates_replaces_id"), table_name="certificates")
    op.drop_index(op.f("ix_customer_api_tokens_account_id"), table_name="customer_api_tokens")
    op.drop_table("customer_api_tokens")
    op.drop_index(op.f("ix_customer_accounts_customer_id"), table_name="customer_accounts")
    op.drop_table("customer_accounts")
