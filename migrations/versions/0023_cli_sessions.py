"""cli sessions: `lims login` keeps the SHA-256 of each session's token, whose it is, where it
was opened from, until when, and when it was closed.

Revision ID: 0023_cli_sessions
Revises: 0022_sealed_append_only
Create Date: 2026-12-12 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import lims.db.types

revision: str = "0023_cli_sessions"
down_revision: str | None = "0022_sealed_append_only"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "cli_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("os_user", sa.String(length=64), nullable=False),
        sa.Column("created_at", lims.db.types.UTCDateTime(), nullable=False),
        sa.Column("expires_at", lims.db.types.UTCDateTime(), nullable=False),
        sa.Column("closed_at", lims.db.types.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_cli_sessions_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cli_sessions")),
        sa.UniqueConstraint("token_sha256", name=op.f("uq_cli_sessions_token_sha256")),
    )
    op.create_index(op.f("ix_cli_sessions_user_id"), "cli_sessions", ["user_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_cli_sessions_user_id"), table_name="cli_sessions")
    op.drop_table("cli_sessions")
