"""sealed append-only tables: the audit trail's, the readings' and the instrument exchanges'
guards hold in replica mode too and refuse TRUNCATE, so that an incremental verification on
PostgreSQL need not scan them (lims.audit_row_versions).

Revision ID: 0022_sealed_append_only
Revises: 0021_cli_sessions
Create Date: 2026-12-05 17:30:00.000000
"""

from collections.abc import Sequence

from alembic import op

from migrations.guards import seal_append_only, unseal_append_only

revision: str = "0022_sealed_append_only"
down_revision: str | None = "0016_pades"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("audit_events", "readings", "instrument_io")


def upgrade() -> None:
    for table in TABLES:
        seal_append_only(op.get_bind(), table)


def downgrade() -> None:
    for table in TABLES:
        unseal_append_only(op.get_bind(), table)
