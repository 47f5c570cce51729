"""integrity: one live certificate per run (partial unique indexes), certificate counters
audited, the count and newest hash of the audit anchors written outside the database.

Counters written by earlier releases get a "create" event holding their value, so
``lims audit verify`` checks them from now on. A database that already holds two
issued (or two unsigned) certificates of one run cannot take the indexes: the
upgrade stops and names them, and nothing is changed.

Revision ID: 0008_integrity
Revises: 0010_portal
Create Date: 2026-12-10 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from lims.audit import PendingEvent, append_events
from lims.db.migrate import MigrationError

revision: str = "0008_integrity"
down_revision: str | None = "0010_portal"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OPEN = "status IN ('draft', 'performed', 'reviewed')"
#: (index name, columns, condition, what a duplicate means)
_INDEXES = (
    ("uq_certificates_run_issued", ("run_id",), "status = 'issued'", "issued certificates"),
    ("uq_certificates_run_open", ("run_id",), _OPEN, "certificates being signed"),
    (
        "uq_certificates_run_revision",
        ("run_id", "revision"),
        "status <> 'rejected'",
        "certificates of one revision not rejected",
    ),
)


def _refuse_duplicates(bind: sa.Connection) -> None:
    for _name, columns, condition, what in _INDEXES:
        cols = ", ".join(columns)
        rows = bind.execute(
            sa.text(
                f"SELECT {cols}, count(*) FROM certificates WHERE {condition} "
                f"GROUP BY {cols} HAVING count(*) > 1 ORDER BY {cols}"
            )
        ).all()
        if rows:
            first = rows[0]
            numbers = bind.execute(
                sa.text(
                    f"SELECT number FROM certificates WHERE {condition} AND run_id = :r "
                    "ORDER BY id"
                ),
                {"r": first[0]},
            ).scalars()
            raise MigrationError(
                f"run {first[0]} has several {what} ({', '.join(numbers)}): reject or revoke "
                "all but one with the previous release, then upgrade again"
            )


def upgrade() -> None:
    bind = op.get_bind()
    op.create_table(
        "audit_anchor_state",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("anchors_written", sa.Integer(), nullable=False),
        sa.Column("newest_event_id", sa.Integer(), nullable=False),
        sa.Column("newest_anchor_sha256", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_anchor_state")),
    )
    _refuse_duplicates(bind)
    for name, columns, condition, _what in _INDEXES:
        op.create_index(
            name,
            "certificates",
            list(columns),
            unique=True,
            sqlite_where=sa.text(condition),
            postgresql_where=sa.text(condition),
        )
    counters = bind.execute(
        sa.text("SELECT year, last FROM certificate_sequences ORDER BY year")
    ).all()
    append_events(
        bind,
        [
            PendingEvent(
                actor="system:migration",
                action="create",
                table_name="certificate_sequences",
                record_id=str(year),
                state={"year": int(year), "last": int(last)},
                reason="certificate counters audited from revision 0008",
            )
            for year, last in counters
        ],
    )


def downgrade() -> None:
    for name, _columns, _condition, _what in reversed(_INDEXES):
        op.drop_index(name, table_name="certificates")
    op.drop_table("audit_anchor_state")
