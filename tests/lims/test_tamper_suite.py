"""The lab attacked as an insider with database rights would: every tampering detected or refused.

The lab (:mod:`tests.lims._tamper_lab`) holds a record in every table the cases aim at,
each made through the product's services: real runs on the simulated bench (readings,
instrument I/O, plans, a rule override), one of them recorded on site on a laptop and
synchronized, an issued certificate (PDF and DCC archived, the trail anchored), the
quality records and a customer's portal account. Each case tampers in plain SQL with
every guard trigger dropped and foreign keys relaxed first (or with the files under the
data directory), then runs what ``lims audit verify`` runs
(:func:`lims.integrity.check_integrity`). A case counts as caught when the database
refuses the edit or the verdict is not "intact"; a case whose table is empty fails (the
lab must give it something to tamper with). Everything is rolled back (files restored)
before the next case. Run on SQLite and PostgreSQL; the detection rate is printed.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import Connection, create_engine, func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from lims.db.base import Base
from lims.integrity import IntegrityReport, IntegrityVerdict, check_integrity
from lims.models import AuditEvent
from lims.quality.archive import file_sha256, iter_archive
from tests.certificate_service.builder import lab_database
from tests.conftest import PG_URL, _pg_schema_url, require_pg
from tests.lims._attacks import (
    Edit,
    alter_plan,
    alter_reply,
    cut_end,
    delete_archived,
    delete_last,
    delete_one,
    drop_last_anchor,
    falsify_all,
    falsify_customer,
    flip_archived,
    forge_event,
    hide_anchors,
    insert_copy,
    last_event_of,
    nothing,
    rechain,
    second_issued,
    sql,
    table_named,
    unguard,
    update_one,
)
from tests.lims._tamper_lab import TamperLab as Lab
from tests.lims._tamper_lab import build_tamper_lab


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def lab(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    data = tmp_path_factory.mktemp("tamper")
    admin = None
    schema = ""
    if request.param == "sqlite":
        url = f"sqlite:///{data / 'lims.sqlite3'}"
    else:
        require_pg()
        schema = f"tamper_{os.getpid()}"
        admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = _pg_schema_url(schema)
    db = lab_database(url)
    try:
        yield build_tamper_lab(db, data)
    finally:
        db.dispose()
        if admin is not None:
            with admin.connect() as conn:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            admin.dispose()


# --------------------------------------------------------------------------- cases


@dataclass(frozen=True)
class Case:
    name: str
    edit: Edit | None = None
    #: The table whose rows the edit needs (empty: the lab is at fault and the case fails).
    table: str | None = None
    files: Callable[[Lab], Callable[[], None]] = nothing
    #: The primary anchor destination out of reach (an unmounted share).
    unreachable: bool = False


def _audited_tables() -> list[str]:
    return sorted(m.class_.__tablename__ for m in Base.registry.mappers if m.class_.__audited__)


#: Tables no case attacks, and why: they hold no record of the lab's work.
NOT_ATTACKED = {
    "run_leases": "which process executes a run now, renewed every few seconds",
    "database_identity": "the database's own identity, never copied by a backup",
    "reading_journal": "empty once a run's groups are sealed; a journal left behind is reported "
    "as 'cannot confirm' (test_audit_checkpoint::test_readings_left_unsealed_…)",
}

_DELETE_LAST_EVENT = "DELETE FROM audit_events WHERE id = (SELECT max(id) FROM audit_events)"

CASES = [
    *[Case(f"{t}-update", update_one(t), table=t) for t in _audited_tables()],
    *[Case(f"{t}-delete", delete_one(t), table=t) for t in _audited_tables()],
    *[Case(f"{t}-insert", insert_copy(t), table=t) for t in _audited_tables()],
    Case(
        "readings-update",
        sql("UPDATE readings SET magnitude = magnitude + 1 WHERE seq = 2"),
        table="readings",
    ),
    Case("readings-delete-last", delete_last("readings"), table="readings"),
    Case("readings-insert", insert_copy("readings"), table="readings"),
    Case("instrument-reply-altered", alter_reply, table="instrument_io"),
    Case("instrument-io-delete-last", delete_last("instrument_io"), table="instrument_io"),
    Case("instrument-io-insert", insert_copy("instrument_io"), table="instrument_io"),
    Case("run-plan-altered", alter_plan, table="runs"),
    Case(
        "run-plan-hash-altered",
        sql(f"UPDATE runs SET plan_sha256 = '{'0' * 64}' WHERE plan_sha256 <> ''"),
        table="runs",
    ),
    Case(
        "synced-event-altered",
        sql(
            "UPDATE synced_audit_events SET actor = 'mallory' "
            "WHERE id = (SELECT min(id) FROM synced_audit_events)"
        ),
        table="synced_audit_events",
    ),
    Case(
        "synced-event-delete-last",
        delete_last("synced_audit_events"),
        table="synced_audit_events",
    ),
    Case(
        "synced-event-insert",
        insert_copy("synced_audit_events"),
        table="synced_audit_events",
    ),
    Case(
        "counter-back",
        sql("UPDATE certificate_sequences SET last = last - 1"),
        table="certificate_sequences",
    ),
    Case(
        "counter-forward",
        sql("UPDATE certificate_sequences SET last = last + 5"),
        table="certificate_sequences",
    ),
    Case("counter-delete", sql("DELETE FROM certificate_sequences"), table="certificate_sequences"),
    Case("second-issued-certificate", second_issued, table="certificates"),
    Case("archive-file-altered", files=flip_archived),
    Case("archive-file-deleted", files=delete_archived),
    Case(
        "event-update",
        sql("UPDATE audit_events SET actor = 'mallory' WHERE id = 5"),
        table="audit_events",
    ),
    Case("event-delete-middle", sql("DELETE FROM audit_events WHERE id = 5"), table="audit_events"),
    Case("event-delete-last", sql(_DELETE_LAST_EVENT), table="audit_events"),
    Case("event-forged-at-end", forge_event, table="audit_events"),
    Case("chain-end-cut-consistently", cut_end, table="audit_events"),
    Case("head-rewound", sql("UPDATE audit_head SET last_id = last_id - 1"), table="audit_head"),
    Case("anchor-file-deleted", files=hide_anchors),
    Case("anchor-line-removed", files=drop_last_anchor),
    Case(
        "anchor-count-lowered",
        sql("UPDATE audit_anchor_state SET anchors_written = 1"),
        table="audit_anchor_state",
    ),
    Case("insider-rewrite-with-anchor-file", falsify_customer, table="customers"),
    Case(
        "insider-rewrite-anchor-file-deleted",
        falsify_customer,
        table="customers",
        files=hide_anchors,
    ),
    Case("insider-rewrite-and-anchor-record", falsify_all, table="customers", files=hide_anchors),
    Case(
        "insider-rewrite-destination-unreachable",
        falsify_customer,
        table="customers",
        unreachable=True,
    ),
]


def _attack(lab: Lab, case: Case) -> IntegrityReport | None:
    """What ``lims audit verify`` reports with ``case`` done (None: the database refused it)."""
    restore_files = case.files(lab)
    anchor_file = (
        lab.data / "unmounted-share" / "audit-anchors.jsonl" if case.unreachable else lab.anchors
    )
    try:
        with lab.db.engine.connect() as conn:
            trans = conn.begin()
            try:
                unguard(conn)
                if case.edit is not None:
                    nested = conn.begin_nested()
                    try:
                        case.edit(conn)
                        nested.commit()
                    except DBAPIError:
                        nested.rollback()
                        return None
                with Session(bind=conn) as s:
                    return check_integrity(s, archive_dir=lab.archive, anchor_file=anchor_file)
            finally:
                trans.rollback()
    finally:
        restore_files()


def _outcome(lab: Lab, case: Case) -> str:
    report = _attack(lab, case)
    return "prevented" if report is None else report.verdict.value


def _findings(lab: Lab, case: Case) -> list[str]:
    report = _attack(lab, case)
    assert report is not None, f"{case.name} was refused"
    assert report.verdict is IntegrityVerdict.TAMPERED, report.verdict
    return [str(p) for p in report.problems]


def _fingerprint(lab: Lab) -> tuple[Any, ...]:
    """Every table's row count, the chain head, the anchor file and the archive: what a
    rollback that leaked would change (the module ends with a full verification)."""
    tables = Base.metadata.sorted_tables
    with lab.db.read() as s:
        counts = s.execute(
            select(*[select(func.count()).select_from(t).scalar_subquery() for t in tables])
        ).one()
        head = s.execute(text("SELECT last_id, last_sha256 FROM audit_head")).one()
    archive = sorted((sha, file_sha256(path)) for sha, path in iter_archive(lab.archive))
    return tuple(counts), tuple(head), lab.anchors.read_bytes(), archive


_results: dict[str, dict[str, str]] = {}
_untouched: dict[str, tuple[Any, ...]] = {}


def test_every_table_is_attacked() -> None:
    attacked = {c.table for c in CASES if c.table is not None}
    every = set(Base.metadata.tables)
    assert every - attacked - set(NOT_ATTACKED) == set()
    assert attacked & set(NOT_ATTACKED) == set()


def test_the_untouched_lab_is_intact(lab: Lab) -> None:
    with lab.db.read() as s:
        report = check_integrity(s, archive_dir=lab.archive, anchor_file=lab.anchors)
    assert report.verdict is IntegrityVerdict.INTACT, (report.problems, report.anchors.doubts)
    assert report.anchors.anchors >= 2
    assert report.archived_files == 2  # the issued PDF and DCC


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_tampering_is_detected_or_refused(lab: Lab, case: Case) -> None:
    backend = lab.db.engine.dialect.name
    untouched = _untouched.setdefault(backend, _fingerprint(lab))
    if case.table is not None:
        with lab.db.read() as s:
            rows = s.scalar(select(func.count()).select_from(table_named(case.table)))
        if not rows:
            pytest.fail(f"{case.table} holds no row in this lab: the lab must fill it")
    outcome = _outcome(lab, case)
    _results.setdefault(backend, {})[case.name] = outcome
    assert outcome in {"prevented", "tampered", "cannot confirm"}, f"{case.name}: {outcome}"
    assert _fingerprint(lab) == untouched, f"{case.name} was not rolled back"


def test_the_lab_is_intact_after_every_attack(lab: Lab) -> None:
    with lab.db.read() as s:
        report = check_integrity(s, archive_dir=lab.archive, anchor_file=lab.anchors)
    assert report.verdict is IntegrityVerdict.INTACT, (report.problems, report.anchors.doubts)


def test_an_altered_instrument_reply_is_named(lab: Lab) -> None:
    """The instruments' raw I/O is not an audited table: its chain and audited head are."""
    found = _findings(lab, Case("reply", alter_reply, table="instrument_io"))
    assert any(f"instrument exchanges of run {lab.run_id} at seq 3" in f for f in found), found


def test_a_plan_rewritten_with_its_trail_is_named_by_its_hash(lab: Lab) -> None:
    """The run's plan and its audit events rewritten consistently, every anchor destination
    out of reach: the hash the run was started under still tells."""

    def rewrite(conn: Connection) -> None:
        alter_plan(conn)
        runs = table_named("runs")
        plan = conn.scalar(select(runs.c.plan).where(runs.c.id == lab.run_id))

        def mutate(ev: AuditEvent) -> None:
            ev.state = {**ev.state, "plan": plan}

        rechain(conn, last_event_of(conn, "runs", str(lab.run_id)), mutate)

    found = _findings(lab, Case("plan", rewrite, table="runs", unreachable=True))
    assert found == [
        f"runs {lab.run_id}: its stored plan does not match the plan hash it was started "
        "under: changed outside the app"
    ]


def test_an_altered_laptop_event_is_named(lab: Lab) -> None:
    """The laptop's events kept after a synchronization are checked against the import."""
    altered = sql(
        "UPDATE synced_audit_events SET reason = 'nothing happened' "
        "WHERE id = (SELECT max(id) FROM synced_audit_events)"
    )
    found = _findings(lab, Case("laptop", altered, table="synced_audit_events"))
    assert any("synchronization 1" in f and "altered" in f for f in found), found


def test_the_documented_limit_is_reported_as_cannot_confirm(lab: Lab) -> None:
    """Unanchored events rewritten with every anchor destination out of reach."""
    outcome = _outcome(
        lab,
        Case("tail", sql("UPDATE audit_events SET reason = 'x' WHERE id = 1"), unreachable=True),
    )
    assert outcome in {"tampered", "cannot confirm"}
    assert _outcome(lab, Case("reach", None, unreachable=True)) == "cannot confirm"


def test_detection_rate(lab: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    backend = lab.db.engine.dialect.name
    results = _results.get(backend, {})
    if len(results) < len(CASES):
        pytest.skip(f"only {len(results)} of {len(CASES)} cases ran: run the module to count")
    caught = sum(v != "intact" for v in results.values())
    by_kind = {k: sum(v == k for v in results.values()) for k in sorted(set(results.values()))}
    with capsys.disabled():
        print(
            f"\n{backend}: {caught} of {len(results)} tamperings caught "
            f"({100 * caught / len(results):.0f} %): "
            + ", ".join(f"{n} {k}" for k, n in by_kind.items())
            + f"; lab built in {lab.build_seconds:.1f} s"
        )
        for name, verdict in sorted(results.items()):
            if verdict != "tampered":
                print(f"  {name}: {verdict}")
    assert len(results) >= 30
    assert caught == len(results)
