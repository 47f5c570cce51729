"""Bench runs, their readings, results and rule overrides."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lims.db.base import Base, created_at_column, enum_column
from lims.models.enums import RunStatus, Verdict
from lims.models.users import User
from lims.models.work import ProcedureVersion, WorkOrderItem


class Run(Base):
    """One execution of a procedure version on a bench."""

    __tablename__ = "runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    procedure_version_id: Mapped[int] = mapped_column(ForeignKey("procedure_versions.id"))
    work_order_item_id: Mapped[int | None] = mapped_column(
        ForeignKey("work_order_items.id"), index=True
    )
    operator_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    bench_name: Mapped[str] = mapped_column(String(100))
    bench_sha256: Mapped[str] = mapped_column(String(64), default="")
    simulated: Mapped[bool] = mapped_column(default=False)
    practice: Mapped[bool] = mapped_column(default=False)
    status: Mapped[RunStatus] = enum_column(RunStatus, default=RunStatus.QUEUED)
    status_reason: Mapped[str] = mapped_column(Text, default="")
    started_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    #: Name of the last step that completed; a resumed run continues after it.
    last_completed_step: Mapped[str | None] = mapped_column(String(100))
    environment: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: Procedure source hash, regulation table version, instruments' identify(),
    #: standards and reference materials with their certificates, software version.
    provenance: Mapped[dict[str, Any]] = mapped_column(default=dict)
    parameters: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: The run plan, frozen when the run was created (:class:`lims.services.planning.RunPlan`).
    plan: Mapped[dict[str, Any]] = mapped_column(default=dict)
    plan_sha256: Mapped[str] = mapped_column(String(64), default="")
    #: The exact regulation table version the run runs under (to its end, resumed or not).
    regulation_table_id: Mapped[int | None] = mapped_column(ForeignKey("regulation_tables.id"))
    created_at: Mapped[datetime] = created_at_column()

    procedure_version: Mapped[ProcedureVersion] = relationship()
    work_order_item: Mapped[WorkOrderItem | None] = relationship()
    operator: Mapped[User] = relationship()


class Reading(Base):
    """One value taken from an instrument (or entered by the operator), with its unit.

    Readings are append-only. Each carries ``chain_sha256``, the hash of its
    content chained to the previous reading of the same run, and the writer
    records the head of that chain in the audit trail at every batch.
    """

    __tablename__ = "readings"
    __table_args__ = (UniqueConstraint("run_id", "seq"),)
    __audited__ = False  # covered by the per-run chain, audited per batch
    __append_only__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"))
    seq: Mapped[int]
    step: Mapped[str] = mapped_column(String(100))
    test_point: Mapped[str] = mapped_column(String(100), default="")
    quantity: Mapped[str] = mapped_column(String(100))
    magnitude: Mapped[float] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(String(64))
    taken_at: Mapped[datetime]
    source: Mapped[str] = mapped_column(String(100))
    chain_sha256: Mapped[str] = mapped_column(String(64))


class Result(Base):
    """A computed result for one test point, referencing the readings it came from."""

    __tablename__ = "results"
    __table_args__ = (Index("ix_results_run_point", "run_id", "test_point"),)
    __append_only__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"))
    item: Mapped[str] = mapped_column(String(100))
    test_point: Mapped[str] = mapped_column(String(100))
    #: {reference, indication, error, mpe, U, k, ...}: each {value, unit}.
    values: Mapped[dict[str, Any]] = mapped_column(default=dict)
    verdict: Mapped[Verdict] = enum_column(Verdict, default=Verdict.NOT_STATED)
    decision_rule: Mapped[str | None] = mapped_column(String(64))
    first_seq: Mapped[int | None]
    last_seq: Mapped[int | None]
    budget: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: A correction points to the result it corrects, with a reason.
    corrects_id: Mapped[int | None] = mapped_column(ForeignKey("results.id"))
    correction_reason: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = created_at_column()


class RuleOverride(Base):
    """A quality manager's written override of a failed pre-run rule check."""

    __tablename__ = "rule_overrides"
    __append_only__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"), index=True)
    rule: Mapped[str] = mapped_column(String(100))
    detail: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    quality_manager_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = created_at_column()


class RunResource(Base):
    """A standard or reference material used by a run (for reverse traceability)."""

    __tablename__ = "run_resources"
    __table_args__ = (UniqueConstraint("run_id", "kind", "resource_id"),)
    __append_only__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"), index=True)
    #: ``standard`` or ``reference_material``.
    kind: Mapped[str] = mapped_column(String(32))
    resource_id: Mapped[int] = mapped_column(index=True)
    tag: Mapped[str] = mapped_column(String(64), index=True)
    certificate_number: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = created_at_column()


class RunLease(Base):
    """Which process executes a run: one owner at a time, renewed while it runs.

    Taken at start and resume with a conditional update (both backends), renewed every few
    seconds, released at the end. Renewals are not audited (they carry no lab data); taking
    and releasing are.
    """

    __tablename__ = "run_leases"
    __audited__ = False

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"), primary_key=True)
    holder: Mapped[str | None] = mapped_column(String(200))
    host: Mapped[str] = mapped_column(String(100), default="")
    pid: Mapped[int] = mapped_column(default=0)
    taken_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]


class ReadingJournal(Base):
    """Readings and instrument exchanges committed (acknowledged) but not yet sealed into
    their audited chains.

    At real-time pacing the writer commits every 200 ms into this journal and seals the
    journal into ``readings`` / ``instrument_io`` (one audit event per chain) at step
    boundaries and every few seconds, so the audit trail grows per group, not per reading.
    A run resumed after a crash seals what its journal holds first. ``payload`` is the
    queued item as JSON (see :mod:`lims.engine.journal`).
    """

    __tablename__ = "reading_journal"
    __table_args__ = (UniqueConstraint("run_id", "kind", "seq"),)
    __audited__ = False  # sealed into the audited chains; never read as lab data before

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    seq: Mapped[int]
    payload: Mapped[str] = mapped_column(Text)


class InstrumentExchange(Base):
    """One command and reply between the engine and an instrument during a run: the run's
    raw-data record. Append-only, chained by hash per run like the readings; the chain head
    is audited with every batch and named in the run's provenance."""

    __tablename__ = "instrument_io"
    __table_args__ = (UniqueConstraint("run_id", "seq"),)
    __audited__ = False
    __append_only__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"))
    seq: Mapped[int]
    at: Mapped[datetime]
    instrument: Mapped[str] = mapped_column(String(100))
    operation: Mapped[str] = mapped_column(String(32))
    sent: Mapped[bytes] = mapped_column(LargeBinary)
    received: Mapped[bytes] = mapped_column(LargeBinary)
    duration_s: Mapped[float] = mapped_column(Float)
    error: Mapped[str] = mapped_column(Text, default="")
    chain_sha256: Mapped[str] = mapped_column(String(64))
