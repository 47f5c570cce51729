"""certificate search indexes: certificates by customer and by instrument, in issue-date order.

Plain CREATE INDEX statements: a batch rebuild of ``certificates`` would drop its
guard triggers on SQLite.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 09:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = {
    "ix_certificates_customer_issued_at": ["customer_id", "issued_at"],
    "ix_certificates_equipment_issued_at": ["equipment_id", "issued_at"],
}


def upgrade() -> None:
    for name, columns in INDEXES.items():
        op.create_index(name, "certificates", columns, unique=False)


def downgrade() -> None:
    for name in INDEXES:
        op.drop_index(name, table_name="certificates")
