"""Migrations: upgrade to head, models agree with the migrated schema, downgrade and back."""

from __future__ import annotations

from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from lims.db import Database
from lims.db.base import Base
from lims.db.migrate import alembic_config, current_revision, head_revision, upgrade


def _diff(db: Database) -> list[Any]:
    with db.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(ctx, Base.metadata))


def _downgrade_to_base(db: Database) -> None:
    cfg = alembic_config(db.engine)
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "base")


def test_upgrade_empty_database_reaches_head(db_url: str) -> None:
    db = Database(db_url)
    try:
        assert current_revision(db.engine) is None
        upgrade(db.engine)
        assert current_revision(db.engine) == head_revision()
        tables = set(inspect(db.engine).get_table_names())
        assert set(Base.metadata.tables) <= tables
    finally:
        db.dispose()


def test_models_and_migrations_agree(db: Database) -> None:
    assert _diff(db) == []


def test_downgrade_to_base_then_upgrade_again(db: Database) -> None:
    _downgrade_to_base(db)
    assert current_revision(db.engine) is None
    remaining = set(inspect(db.engine).get_table_names()) - {"alembic_version"}
    assert remaining == set()
    upgrade(db.engine)
    assert current_revision(db.engine) == head_revision()
    assert _diff(db) == []


def test_archive_hash_prefix_indexes_serve_the_archive_check(db: Database) -> None:
    """The leaf-directory queries of the incremental archive check use the expression
    indexes of migration 0024 (compared above on PostgreSQL only)."""
    from sqlalchemy import select

    from lims.db.types import hash_prefix
    from lims.models.certificates import Certificate

    query = select(Certificate.id).where(hash_prefix(Certificate.pdf_sha256).in_(["ab12", "cd34"]))
    with db.engine.connect() as conn:
        if not db.is_sqlite:  # a small table: the planner would scan it otherwise
            conn.exec_driver_sql("SET enable_seqscan = off")
        sql = str(query.compile(conn, compile_kwargs={"literal_binds": True}))
        explain = "EXPLAIN QUERY PLAN " if db.is_sqlite else "EXPLAIN "
        plan = " ".join(str(row) for row in conn.exec_driver_sql(explain + sql))
    assert "ix_certificates_pdf_sha256_prefix" in plan


def test_every_guard_runs_with_the_catalogs_operators(db: Database) -> None:
    """On PostgreSQL each guard function (append-only tables, issued certificates, chain
    events) runs with ``search_path = pg_catalog, pg_temp``: an ``=`` or a table a session
    puts first in its own search path is never the guard's."""
    if db.is_sqlite:
        return
    with db.engine.connect() as conn:
        configs = dict(
            conn.exec_driver_sql(
                "SELECT proname, array_to_string(proconfig, ';') FROM pg_proc "
                "WHERE proname LIKE 'lims\\_%%' AND pronamespace = current_schema()::regnamespace"
            ).all()
        )
    assert set(configs) == {
        "lims_refuse_change",
        "lims_guard_certificate",
        "lims_require_chain_event",
    }
    assert set(configs.values()) == {"search_path=pg_catalog, pg_temp"}
