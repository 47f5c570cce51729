"""on-site work and synchronization: the database's own identity, sites, visits, portable
standards checked out and in, runs marked on site, imported laptop runs and audit segments.

New tables only: records written by earlier releases are untouched (their audited state
is unchanged). The append-only ones are guarded by triggers like the others.

Revision ID: 0012_onsite
Revises: 0006
Create Date: 2026-12-10 09:00:00.000000
"""

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from migrations.guards import drop_refuse_changes, refuse_changes

revision: str = "0012_onsite"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPEND_ONLY = ("run_sites", "sync_imports", "synced_audit_events", "run_origins")


def _json() -> sa.types.TypeEngine[object]:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    identity = op.create_table(
        "database_identity",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("uid", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_database_identity")),
        sa.UniqueConstraint("uid", name=op.f("uq_database_identity_uid")),
    )
    op.bulk_insert(
        identity,
        [{"id": 1, "uid": str(uuid.uuid4()), "created_at": datetime.now(UTC).replace(tzinfo=None)}],
    )
    op.create_table(
        "sites",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("plant", sa.String(length=200), nullable=False),
        sa.Column("point", sa.String(length=200), nullable=False),
        sa.Column("address", sa.String(length=300), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_sites_customer_id_customers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sites")),
    )
    op.create_index(op.f("ix_sites_customer_id"), "sites", ["customer_id"], unique=False)
    op.create_table(
        "site_visits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uid", sa.String(length=36), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.Column("work_order_id", sa.Integer(), nullable=True),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_site_visits_created_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_site_visits_site_id_sites")
        ),
        sa.ForeignKeyConstraint(
            ["work_order_id"],
            ["work_orders.id"],
            name=op.f("fk_site_visits_work_order_id_work_orders"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_site_visits")),
        sa.UniqueConstraint("uid", name=op.f("uq_site_visits_uid")),
    )
    op.create_index(op.f("ix_site_visits_site_id"), "site_visits", ["site_id"], unique=False)
    op.create_table(
        "checkouts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("visit_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("resource_id", sa.Integer(), nullable=False),
        sa.Column("tag", sa.String(length=64), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=False),
        sa.Column("checked_out_by_id", sa.Integer(), nullable=False),
        sa.Column("checked_out_at", sa.DateTime(), nullable=False),
        sa.Column("checked_in_by_id", sa.Integer(), nullable=True),
        sa.Column("checked_in_at", sa.DateTime(), nullable=True),
        sa.Column("condition_in", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["checked_in_by_id"], ["users.id"], name=op.f("fk_checkouts_checked_in_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["checked_out_by_id"],
            ["users.id"],
            name=op.f("fk_checkouts_checked_out_by_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["visit_id"], ["site_visits.id"], name=op.f("fk_checkouts_visit_id_site_visits")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checkouts")),
    )
    op.create_index("ix_checkouts_visit_tag", "checkouts", ["visit_id", "tag"], unique=False)
    op.create_table(
        "run_sites",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("visit_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name=op.f("fk_run_sites_run_id_runs")),
        sa.ForeignKeyConstraint(
            ["visit_id"], ["site_visits.id"], name=op.f("fk_run_sites_visit_id_site_visits")
        ),
        sa.PrimaryKeyConstraint("run_id", name=op.f("pk_run_sites")),
    )
    op.create_index(op.f("ix_run_sites_visit_id"), "run_sites", ["visit_id"], unique=False)
    op.create_table(
        "sync_imports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source_uid", sa.String(length=36), nullable=False),
        sa.Column("anchor_event_id", sa.Integer(), nullable=False),
        sa.Column("anchor_sha256", sa.String(length=64), nullable=False),
        sa.Column("first_event_id", sa.Integer(), nullable=False),
        sa.Column("last_event_id", sa.Integer(), nullable=False),
        sa.Column("last_sha256", sa.String(length=64), nullable=False),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.Column("runs", _json(), nullable=False),
        sa.Column("imported_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_imports")),
    )
    op.create_index(
        op.f("ix_sync_imports_source_uid"), "sync_imports", ["source_uid"], unique=False
    )
    op.create_table(
        "synced_audit_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("import_id", sa.Integer(), nullable=False),
        sa.Column("source_uid", sa.String(length=36), nullable=False),
        sa.Column("source_event_id", sa.Integer(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("table_name", sa.String(length=64), nullable=False),
        sa.Column("record_id", sa.String(length=64), nullable=False),
        sa.Column("changes", _json(), nullable=False),
        sa.Column("state", _json(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("prev_sha256", sa.String(length=64), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["import_id"],
            ["sync_imports.id"],
            name=op.f("fk_synced_audit_events_import_id_sync_imports"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_synced_audit_events")),
        sa.UniqueConstraint(
            "source_uid",
            "source_event_id",
            name=op.f("uq_synced_audit_events_source_uid_source_event_id"),
        ),
    )
    op.create_index(
        op.f("ix_synced_audit_events_import_id"),
        "synced_audit_events",
        ["import_id"],
        unique=False,
    )
    op.create_table(
        "run_origins",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("uid", sa.String(length=36), nullable=False),
        sa.Column("source_uid", sa.String(length=36), nullable=False),
        sa.Column("source_run_id", sa.Integer(), nullable=False),
        sa.Column("reading_count", sa.Integer(), nullable=False),
        sa.Column("reading_head", sa.String(length=64), nullable=False),
        sa.Column("source_state_sha256", sa.String(length=64), nullable=False),
        sa.Column("import_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["import_id"], ["sync_imports.id"], name=op.f("fk_run_origins_import_id_sync_imports")
        ),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name=op.f("fk_run_origins_run_id_runs")),
        sa.PrimaryKeyConstraint("run_id", name=op.f("pk_run_origins")),
        sa.UniqueConstraint(
            "source_uid", "source_run_id", name=op.f("uq_run_origins_source_uid_source_run_id")
        ),
        sa.UniqueConstraint("uid", name=op.f("uq_run_origins_uid")),
    )
    op.create_index(op.f("ix_run_origins_import_id"), "run_origins", ["import_id"], unique=False)
    bind = op.get_bind()
    for table in APPEND_ONLY:
        refuse_changes(bind, table)


def downgrade() -> None:
    bind = op.get_bind()
    for table in APPEND_ONLY:
        drop_refuse_changes(bind, table)
    for table in (
        "run_origins",
        "synced_audit_events",
        "sync_imports",
        "run_sites",
        "checkouts",
        "site_visits",
        "sites",
        "database_identity",
    ):
        op.drop_table(table)
