"""archive hash prefixes: the hashes of archived files (issued certificates' PDF and DCC,
external certificates' files) indexed by their archive leaf directory, the first four hex
digits, for the incremental archive check of `lims audit verify`.

Revision ID: 0024_archive_hash_prefixes
Revises: 0023_cli_sessions
Create Date: 2026-12-05 21:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024_archive_hash_prefixes"
down_revision: str | None = "0023_cli_sessions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEXES = (
    ("ix_certificates_pdf_sha256_prefix", "certificates", "pdf_sha256"),
    ("ix_certificates_dcc_sha256_prefix", "certificates", "dcc_sha256"),
    ("ix_external_certificates_file_sha256_prefix", "external_certificates", "file_sha256"),
)


def upgrade() -> None:
    for name, table, column in _INDEXES:
        op.create_index(name, table, [sa.text(f"substr({column}, 1, 4)")], unique=False)


def downgrade() -> None:
    for name, table, _column in _INDEXES:
        op.drop_index(name, table_name=table)
