"""Database triggers that refuse changes to append-only and issued records.

They back up the checks of the service layer, so that plain SQL cannot change
what the application never changes. Migrations call these helpers with explicit
table names, so a migration's effect never changes after it is released.
"""

from __future__ import annotations

from sqlalchemy import Connection

FINAL_CERTIFICATE_STATES = ("issued", "superseded", "revoked")
_FINAL = ", ".join(f"'{s}'" for s in FINAL_CERTIFICATE_STATES)
_CERT_FIXED_COLUMNS = (
    "number",
    "year",
    "sequence",
    "type",
    "revision",
    "replaces_id",
    "amendment_reason",
    "run_id",
    "content_sha256",
    "pdf_sha256",
    "dcc_sha256",
    "issued_at",
    "created_at",
)


def refuse_changes(bind: Connection, table: str) -> None:
    """Make ``table`` append-only: every UPDATE and DELETE is refused."""
    if bind.dialect.name == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            bind.exec_driver_sql(
                f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: {verb} refused'); END"
            )
    else:
        bind.exec_driver_sql(
            """
            CREATE OR REPLACE FUNCTION lims_refuse_change() RETURNS trigger AS $$
            BEGIN
                RAISE EXCEPTION '%% is append-only: %% refused', TG_TABLE_NAME, TG_OP;
            END $$ LANGUAGE plpgsql
            """
        )
        bind.exec_driver_sql(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION lims_refuse_change()"
        )


def seal_append_only(bind: Connection, table: str) -> None:
    """Make ``table``'s append-only guard hold in replica mode too (``ENABLE ALWAYS``) and
    refuse TRUNCATE: then only catalog changes (disabling, dropping or replacing a guard,
    rewriting the table) can change its rows, and an incremental verification can tell
    (:meth:`lims.audit_row_versions.WrittenSince.sealed`). PostgreSQL only."""
    if bind.dialect.name == "sqlite":
        return
    bind.exec_driver_sql(
        f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
        "FOR EACH STATEMENT EXECUTE FUNCTION lims_refuse_change()"
    )
    bind.exec_driver_sql(f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER {table}_append_only")
    bind.exec_driver_sql(f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER {table}_no_truncate")


def unseal_append_only(bind: Connection, table: str) -> None:
    """Undo :func:`seal_append_only`."""
    if bind.dialect.name == "sqlite":
        return
    bind.exec_driver_sql(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
    bind.exec_driver_sql(f"ALTER TABLE {table} ENABLE TRIGGER {table}_append_only")


def require_chain_event(bind: Connection, table: str) -> None:
    """Refuse a row inserted into the per-run chained ``table`` (readings, instrument
    exchanges) unless its run's newest chain event (an audit event on ``table`` whose record
    is the run) was written earlier in the same transaction, as the application always does.
    The check runs before each row, in replica mode and for ``COPY`` too (``ENABLE ALWAYS``),
    as one probe of the audit trail's record index (which ends with the event id), on the
    trail of the schema the migration runs in, with the catalog's own functions and operators
    (never a temporary table's or another schema's shadow of them): rows of a run the audit
    trail says nothing new about cannot appear, so an incremental verification walks only the
    runs of the trail's new events and need not count the table
    (:meth:`lims.audit_row_versions.WrittenSince.inserts_audited`). PostgreSQL only
    (SQLite's verification recomputes every digest)."""
    if bind.dialect.name == "sqlite":
        return
    schema = str(bind.exec_driver_sql("SELECT current_schema()").scalar_one())
    trail = '"' + schema.replace('"', '""') + '".audit_events'
    bind.exec_driver_sql(
        f"""
        CREATE OR REPLACE FUNCTION lims_require_chain_event() RETURNS trigger AS $$
        BEGIN
            IF NOT EXISTS (
                SELECT 1 FROM (
                    SELECT e.xmin FROM {trail} e
                    WHERE e.table_name = TG_ARGV[0] AND e.record_id = NEW.run_id::text
                    ORDER BY e.id DESC LIMIT 1
                ) AS newest WHERE newest.xmin = pg_current_xact_id()::xid
            ) THEN
                RAISE EXCEPTION '%% of run %% inserted without its audit event: refused',
                    TG_TABLE_NAME, NEW.run_id;
            END IF;
            RETURN NEW;
        END $$ LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
        """
    )
    bind.exec_driver_sql(
        f"CREATE TRIGGER {table}_audited_insert BEFORE INSERT ON {table} "
        f"FOR EACH ROW EXECUTE FUNCTION lims_require_chain_event('{table}')"
    )
    bind.exec_driver_sql(f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER {table}_audited_insert")


def drop_chain_event_requirement(bind: Connection, table: str) -> None:
    """Undo :func:`require_chain_event`."""
    if bind.dialect.name == "sqlite":
        return
    bind.exec_driver_sql(f"DROP TRIGGER IF EXISTS {table}_audited_insert ON {table}")


def drop_refuse_changes(bind: Connection, table: str) -> None:
    """Undo :func:`refuse_changes`."""
    if bind.dialect.name == "sqlite":
        for verb in ("update", "delete"):
            bind.exec_driver_sql(f"DROP TRIGGER IF EXISTS {table}_no_{verb}")
    else:
        bind.exec_driver_sql(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")


#: Columns fixed once a certificate is issued, from revision 0004 on (adds the validity
#: date, the content record, the drafter, the customer and the instrument).
CERT_FIXED_COLUMNS_0004 = (
    *_CERT_FIXED_COLUMNS,
    "valid_until",
    "content",
    "drafted_by_id",
    "customer_id",
    "equipment_id",
)


def _refused_update(changed: str, forward_only: bool) -> str:
    """The SQL condition under which an UPDATE of a certificate row is refused."""
    if not forward_only:
        return f"OLD.status IN ({_FINAL}) AND ({changed} OR NEW.status NOT IN ({_FINAL}))"
    # the transitions the application allows (lims.audit): issued -> superseded | revoked,
    # superseded -> revoked; a revoked certificate keeps its status for good
    forward = (
        "NEW.status = OLD.status"
        " OR (OLD.status = 'issued' AND NEW.status IN ('superseded', 'revoked'))"
        " OR (OLD.status = 'superseded' AND NEW.status = 'revoked')"
    )
    return f"OLD.status IN ({_FINAL}) AND ({changed} OR NOT ({forward}))"


def guard_issued_certificates(
    bind: Connection,
    fixed_columns: tuple[str, ...] = _CERT_FIXED_COLUMNS,
    forward_only: bool = False,
) -> None:
    """Issued certificates: only the status may change (to superseded/revoked); no delete.

    With ``forward_only`` (revision 0006 on) the status only moves forward, as the
    application allows it (issued -> superseded | revoked, superseded -> revoked), so
    plain SQL cannot bring a superseded or revoked certificate back.
    """
    if bind.dialect.name == "sqlite":
        changed = " OR ".join(f"NEW.{c} IS NOT OLD.{c}" for c in fixed_columns)
        bind.exec_driver_sql(
            "CREATE TRIGGER certificates_issued_update BEFORE UPDATE ON certificates "
            f"WHEN {_refused_update(changed, forward_only)} "
            "BEGIN SELECT RAISE(ABORT, 'issued certificates are read-only: amend instead'); END"
        )
        bind.exec_driver_sql(
            "CREATE TRIGGER certificates_no_delete BEFORE DELETE ON certificates "
            "BEGIN SELECT RAISE(ABORT, 'certificates cannot be deleted'); END"
        )
        return
    changed = " OR ".join(
        f"NEW.{c}::text IS DISTINCT FROM OLD.{c}::text"
        if c == "content"
        else f"NEW.{c} IS DISTINCT FROM OLD.{c}"
        for c in fixed_columns
    )
    bind.exec_driver_sql(
        f"""
        CREATE OR REPLACE FUNCTION lims_guard_certificate() RETURNS trigger AS $$
        BEGIN
            IF TG_OP = 'DELETE' THEN
                RAISE EXCEPTION 'certificates cannot be deleted';
            END IF;
            IF {_refused_update(changed, forward_only)} THEN
                RAISE EXCEPTION 'issued certificates are read-only: amend instead';
            END IF;
            RETURN NEW;
        END $$ LANGUAGE plpgsql
        """
    )
    bind.exec_driver_sql(
        "CREATE TRIGGER certificates_guard BEFORE UPDATE OR DELETE ON certificates "
        "FOR EACH ROW EXECUTE FUNCTION lims_guard_certificate()"
    )


def drop_certificate_guard(bind: Connection) -> None:
    """Undo :func:`guard_issued_certificates`."""
    if bind.dialect.name == "sqlite":
        bind.exec_driver_sql("DROP TRIGGER IF EXISTS certificates_issued_update")
        bind.exec_driver_sql("DROP TRIGGER IF EXISTS certificates_no_delete")
    else:
        bind.exec_driver_sql("DROP TRIGGER IF EXISTS certificates_guard ON certificates")
