"""certificate status moves forward only, as the application allows it: issued -> superseded |
revoked, superseded -> revoked (plain SQL can no longer bring a withdrawn certificate back).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 09:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

from migrations.guards import (
    CERT_FIXED_COLUMNS_0004,
    drop_certificate_guard,
    guard_issued_certificates,
)

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    bind = op.get_bind()
    drop_certificate_guard(bind)
    guard_issued_certificates(bind, CERT_FIXED_COLUMNS_0004, forward_only=True)


def downgrade() -> None:
    bind = op.get_bind()
    drop_certificate_guard(bind)
    guard_issued_certificates(bind, CERT_FIXED_COLUMNS_0004)
