"""chain events required: a reading or an instrument exchange is inserted only in the
transaction that first wrote its run's chain event to the audit trail, in replica mode too,
so that an incremental verification on PostgreSQL need not count those tables
(lims.audit_row_versions); the audit trail's record index ends with the event id, so that a
record's newest event is one index probe on PostgreSQL too. Every guard function runs with
the catalog's own operators and functions, whatever a session's search path puts before them.

Revision ID: 0025_chain_events_required
Revises: 0024_archive_hash_prefixes
Create Date: 2026-12-06 01:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

from migrations.guards import drop_chain_event_requirement, require_chain_event

revision: str = "0025_chain_events_required"
down_revision: str | None = "0024_archive_hash_prefixes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("readings", "instrument_io")
#: The guard functions of earlier revisions.
GUARDS = ("lims_refuse_change()", "lims_guard_certificate()")


def upgrade() -> None:
    op.drop_index("ix_audit_events_record", table_name="audit_events")
    op.create_index("ix_audit_events_record", "audit_events", ["table_name", "record_id", "id"])
    for table in TABLES:
        require_chain_event(op.get_bind(), table)
    if op.get_bind().dialect.name == "postgresql":
        for guard in GUARDS:
            op.get_bind().exec_driver_sql(
                f"ALTER FUNCTION {guard} SET search_path = pg_catalog, pg_temp"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for guard in GUARDS:
            op.get_bind().exec_driver_sql(f"ALTER FUNCTION {guard} RESET search_path")
    for table in TABLES:
        drop_chain_event_requirement(op.get_bind(), table)
    if op.get_bind().dialect.name == "postgresql":
        op.get_bind().exec_driver_sql("DROP FUNCTION IF EXISTS lims_require_chain_event()")
    op.drop_index("ix_audit_events_record", table_name="audit_events")
    op.create_index("ix_audit_events_record", "audit_events", ["table_name", "record_id"])
