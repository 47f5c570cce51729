"""Certificates in the database: draft, sign, issue, amend, reject, revoke, verify.

The life of a certificate::

    draft ──performed──▶ performed ──reviewed──▶ reviewed ──approved──▶ issued
      │                      │                       │                    │
      └──────────── rejected (with a reason) ────────┘        superseded / revoked

* :func:`draft_certificate` takes the run's results, numbers the certificate
  (gapless per year), renders the bilingual PDF and keeps it by hash.
* :func:`sign_certificate` checks the signer's password (a failure is recorded),
  role, the order performed → reviewed → approved and that three different
  people sign; it applies the user's PAdES signature with their own key. The
  approval issues the certificate: read-only from then on, the PDF and the DCC
  archived under the data directory by their SHA-256.
* :func:`amend_certificate` makes a new certificate (new number) that replaces
  an issued one; when the amendment is issued, the original becomes superseded.
* :func:`verify_certificate_file` (:mod:`lims.services.certificate_verification`)
  checks a PDF or DCC against the lab's CA and against the records.

Every refusal of a signature is written to the audit trail.
"""

from __future__ import annotations

import hashlib
import logging
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from lims.audit import clipped, log_event
from lims.certificates import (
    CertificateError,
    Meaning,
    Replaces,
    build_dcc,
    render_pdf,
    sign_pdf,
)
from lims.certificates.dcc_signature import sign_dcc
from lims.certificates.ltv import add_validation_data
from lims.certificates.model import BudgetAnnex
from lims.certificates.pki import LabSigner
from lims.certificates.record import document_from_record
from lims.db import Database
from lims.db.types import utcnow
from lims.lab_time import local_date
from lims.models.certificates import Certificate, Signature
from lims.models.enums import (
    CertificateStatus,
    CertificateType,
    SignatureMeaning,
)
from lims.models.pki import StoredFile
from lims.models.runs import Run
from lims.models.users import User
from lims.quality.archive import store_bytes
from lims.quality.errors import NotFoundError, PermissionDenied, QualityError
from lims.quality.permissions import Permission, can, require
from lims.quality.scope import BelowCmc, PointStatus, ScopeDecision, check_scope, current_scope
from lims.security import AuthenticationError, PasswordPolicy
from lims.services.certificate_content import DraftInputs, build_document

# Verification lives in its own module; these names stay importable from here.
from lims.services.certificate_verification import (
    FileVerification,
    verify_certificate_file,
)
from lims.services.lab import lab_time_zone
from lims.services.numbering import next_certificate_number
from lims.services.signing_keys import signer_for
from lims.services.timestamping import signing_timestamper, validation_data
from lims.services.work_order_status import item_certified
from lims.units import parse_quantity

__all__ = [
    "CertificateInfo",
    "CertificateWorkflowError",
    "FileVerification",
    "SignatureInfo",
    "amend_certificate",
    "certificate_budgets",
    "certificate_dcc",
    "certificate_info",
    "certificate_pdf",
    "draft_certificate",
    "pending_for",
    "reject_certificate",
    "revoke_certificate",
    "sign_certificate",
    "verify_certificate_file",
]

log = logging.getLogger(__name__)

#: Permission needed to sign with each meaning.
SIGN_PERMISSION = {
    Meaning.PERFORMED: Permission.SIGN_PERFORMED,
    Meaning.REVIEWED: Permission.SIGN_REVIEWED,
    Meaning.APPROVED: Permission.SIGN_APPROVED,
}
#: Status a certificate must have to accept each meaning, and the status after it.
_BEFORE = {
    Meaning.PERFORMED: CertificateStatus.DRAFT,
    Meaning.REVIEWED: CertificateStatus.PERFORMED,
    Meaning.APPROVED: CertificateStatus.REVIEWED,
}
_AFTER = {
    Meaning.PERFORMED: CertificateStatus.PERFORMED,
    Meaning.REVIEWED: CertificateStatus.REVIEWED,
    Meaning.APPROVED: CertificateStatus.ISSUED,
}
_OPEN = (CertificateStatus.DRAFT, CertificateStatus.PERFORMED, CertificateStatus.REVIEWED)
_NEXT_MEANING = {status: meaning for meaning, status in _BEFORE.items()}
#: Default verification interval (检定周期) when the regulation table gives none.
DEFAULT_VERIFICATION_PERIOD = "1 year"


class CertificateWorkflowError(QualityError):
    """A certificate action refused: wrong state, order, signer or content."""


@dataclass(frozen=True)
class SignatureInfo:
    """One signature as recorded."""

    meaning: Meaning
    username: str
    printed_name: str
    signed_at: datetime
    content_sha256: str
    pdf_sha256: str


@dataclass(frozen=True)
class CertificateInfo:
    """What the service tells about a certificate."""

    number: str
    type: CertificateType
    status: CertificateStatus
    revision: int
    run_id: int
    customer: str
    instrument: str
    serial_number: str
    created_at: datetime
    issued_at: datetime | None
    valid_until: date | None
    content_sha256: str
    pdf_sha256: str | None
    dcc_sha256: str | None
    simulated: bool
    overall_verdict: str
    status_reason: str
    replaces: str | None
    amendment_reason: str | None
    superseded_by: str | None
    signatures: tuple[SignatureInfo, ...] = field(default=())

    @property
    def next_meaning(self) -> Meaning | None:
        """The signature the certificate waits for (None once issued, rejected, ...)."""
        return _NEXT_MEANING.get(self.status)

    def as_json(self) -> dict[str, object]:
        """Plain data for ``--json`` output."""
        return {
            "number": self.number,
            "type": self.type.value,
            "status": self.status.value,
            "revision": self.revision,
            "run_id": self.run_id,
            "customer": self.customer,
            "instrument": self.instrument,
            "serial_number": self.serial_number,
            "created_at": self.created_at.isoformat(),
            "issued_at": self.issued_at.isoformat() if self.issued_at else None,
            "valid_until": self.valid_until.isoformat() if self.valid_until else None,
            "content_sha256": self.content_sha256,
            "pdf_sha256": self.pdf_sha256,
            "dcc_sha256": self.dcc_sha256,
            "simulated": self.simulated,
            "overall_verdict": self.overall_verdict,
            "status_reason": self.status_reason,
            "replaces": self.replaces,
            "amendment_reason": self.amendment_reason,
            "superseded_by": self.superseded_by,
            "next_signature": self.next_meaning.value if self.next_meaning else None,
            "signatures": [
                {
                    "meaning": s.meaning.value,
                    "user": s.username,
                    "printed_name": s.printed_name,
                    "signed_at": s.signed_at.isoformat(),
                    "content_sha256": s.content_sha256,
                    "pdf_sha256": s.pdf_sha256,
                }
                for s in self.signatures
            ],
        }


# --------------------------------------------------------------------------- lookups


def _certificate(session: Session, number: str, *, lock: bool = False) -> Certificate:
    query = select(Certificate).where(Certificate.number == number)
    if lock:
        query = query.with_for_update()
    cert = session.scalars(query).one_or_none()
    if cert is None:
        raise NotFoundError(f"certificate {number!r} does not exist")
    return cert


def _file(session: Session, sha256: str | None, what: str) -> bytes:
    if sha256 is None:
        raise CertificateWorkflowError(f"{what} does not exist yet")
    row = session.get(StoredFile, sha256)
    if row is None:
        raise CertificateWorkflowError(f"{what} ({sha256[:12]}…) is missing from the database")
    if hashlib.sha256(row.data).hexdigest() != sha256:
        raise CertificateWorkflowError(f"{what} ({sha256[:12]}…) does not match its hash")
    return row.data


def _store(session: Session, data: bytes, media_type: str) -> str:
    sha = hashlib.sha256(data).hexdigest()
    if session.get(StoredFile, sha) is None:
        session.add(StoredFile(sha256=sha, media_type=media_type, size=len(data), data=data))
        session.flush()
    return sha


def _info(session: Session, cert: Certificate) -> CertificateInfo:
    content = cert.content or {}
    item = content.get("item") or {}
    customer = content.get("customer") or {}
    description = item.get("description") or {}
    signatures = session.scalars(
        select(Signature).where(Signature.certificate_id == cert.id).order_by(Signature.id)
    ).all()
    signers = {u.id: u.username for u in session.scalars(select(User)).all()}
    successor = session.scalars(
        select(Certificate.number).where(
            Certificate.replaces_id == cert.id,
            Certificate.status.in_([CertificateStatus.ISSUED, CertificateStatus.SUPERSEDED]),
        )
    ).first()
    return CertificateInfo(
        number=cert.number,
        type=CertificateType(cert.type),
        status=CertificateStatus(cert.status),
        revision=cert.revision,
        run_id=cert.run_id,
        customer=str(customer.get("name", "")),
        instrument=f"{description.get('zh', '')} {description.get('en', '')}".strip(),
        serial_number=str(item.get("serial_number", "")),
        created_at=cert.created_at,
        issued_at=cert.issued_at,
        valid_until=cert.valid_until,
        content_sha256=cert.content_sha256,
        pdf_sha256=cert.pdf_sha256,
        dcc_sha256=cert.dcc_sha256,
        simulated=bool(content.get("simulated")),
        overall_verdict=str((content.get("conclusion") or {}).get("verdict", "")),
        status_reason=cert.status_reason,
        replaces=cert.replaces.number if cert.replaces is not None else None,
        amendment_reason=cert.amendment_reason,
        superseded_by=successor,
        signatures=tuple(
            SignatureInfo(
                Meaning(s.meaning.value),
                signers.get(s.signer_id, str(s.signer_id)),
                s.printed_name,
                s.signed_at,
                s.content_sha256,
                s.pdf_sha256,
            )
            for s in signatures
        ),
    )


def certificate_info(db: Database, viewer: User, number: str) -> CertificateInfo:
    """A certificate's record, signatures and supersession links."""
    require(viewer, Permission.VIEW_RECORDS)
    with db.read() as session:
        return _info(session, _certificate(session, number))


def certificate_pdf(db: Database, viewer: User, number: str) -> bytes:
    """The certificate's current PDF (the issued one once issued)."""
    require(viewer, Permission.VIEW_RECORDS)
    with db.read() as session:
        cert = _certificate(session, number)
        return _file(session, cert.pdf_sha256, f"the PDF of {number}")


def certificate_dcc(db: Database, viewer: User, number: str) -> bytes:
    """The DCC XML of an issued certificate."""
    require(viewer, Permission.VIEW_RECORDS)
    with db.read() as session:
        cert = _certificate(session, number)
        if cert.dcc_sha256 is None:
            raise CertificateWorkflowError(
                f"certificate {number} is {cert.status.value}: its DCC is written when it is "
                "approved and issued"
            )
        return _file(session, cert.dcc_sha256, f"the DCC of {number}")


def certificate_budgets(db: Database, viewer: User, number: str) -> tuple[BudgetAnnex, ...]:
    """The uncertainty budgets of a certificate as its annex prints them: the annex the
    certificate carries, else the budgets stored with its run's results."""
    from lims.services.certificate_budgets import run_budget_annexes

    require(viewer, Permission.VIEW_RECORDS)
    with db.read() as session:
        cert = _certificate(session, number)
        doc = document_from_record(cert.content)
        if doc.budgets:
            return doc.budgets
        return run_budget_annexes(session, cert.run_id, doc.sections)


def pending_for(db: Database, user: User) -> list[CertificateInfo]:
    """Certificates waiting for a signature this user may give (oldest first)."""
    require(user, Permission.VIEW_RECORDS)
    wanted = [_BEFORE[m] for m, permission in SIGN_PERMISSION.items() if can(user, permission)]
    if not wanted:
        return []
    with db.read() as session:
        certs = session.scalars(
            select(Certificate).where(Certificate.status.in_(wanted)).order_by(Certificate.id)
        ).all()
        infos = [_info(session, c) for c in certs]
    return [i for i in infos if user.username not in {s.username for s in i.signatures}]


# --------------------------------------------------------------------------- draft


def _verification_period(run: Run) -> str:
    content = run.procedure_version.regulation_table.content
    try:
        limits = tomllib.loads(content).get("limits") or {}
    except tomllib.TOMLDecodeError:
        return DEFAULT_VERIFICATION_PERIOD
    entry = limits.get("verification_period")
    if isinstance(entry, dict):
        return str(entry.get("value", DEFAULT_VERIFICATION_PERIOD))
    if isinstance(entry, str):
        return entry
    return DEFAULT_VERIFICATION_PERIOD


def _valid_until(start: date, period_text: str) -> date:
    """The last day of validity: ``start`` (the verification date) plus the period, less a day."""
    period = parse_quantity(period_text, "day")
    days = float(period.to("day").magnitude)
    if period.units == parse_quantity("1 year").units:
        years = round(float(period.magnitude))
        try:
            return start.replace(year=start.year + years) - timedelta(days=1)
        except ValueError:  # 29 February
            return start.replace(year=start.year + years, day=28)
    return start + timedelta(days=round(days)) - timedelta(days=1)


def _scope_check(session: Session, run_id: int, cmc_rule: str | None) -> ScopeDecision | None:
    """The run's results against the released accreditation scope (ILAC P14); None while
    the lab has released no scope. A U below the CMC under the "refuse" rule refuses the
    draft, naming every such result."""
    if current_scope(session) is None:
        log.info("run %s: no released accreditation scope; the CMC guard does not apply", run_id)
        return None
    decision = check_scope(session, run_id, policy=BelowCmc(cmc_rule) if cmc_rule else None)
    if decision.refused:
        refused = [p.message for p in decision.points if p.status is PointStatus.REFUSED]
        raise CertificateWorkflowError(
            f"run {run_id}: 扩展不确定度小于认可范围的 CMC，不出具证书 / the expanded "
            f"uncertainty is below the CMC of scope {decision.scope_version} (cmc_rule "
            f"refuse): {'; '.join(refused)}; nothing was written"
        )
    return decision


def _new_certificate(
    session: Session,
    actor: User,
    run: Run,
    today: date | None,
    *,
    revision: int = 0,
    replaces: Certificate | None = None,
    reason: str | None = None,
    valid_until: date | None = None,
    budget_annex: bool | None = None,
    cmc_rule: str | None = None,
    verification_base_url: str | None = None,
) -> Certificate:
    zone_name = lab_time_zone(session)
    if today is None:  # the lab's date, not the UTC one
        today = local_date(utcnow(), zone_name)
    number, sequence = next_certificate_number(session, today.year)
    if valid_until is None:
        # 有效期 counts from the date of verification (the run's last day, the lab's date)
        verified_on = local_date(run.ended_at, zone_name) if run.ended_at is not None else today
        valid_until = _valid_until(verified_on, _verification_period(run))
    replaced = (
        Replaces(replaces.number, reason or "", replaces.content_sha256)
        if replaces is not None
        else None
    )
    doc = build_document(
        session,
        run,
        DraftInputs(
            number=number,
            drafted_on=today,
            valid_until=valid_until,
            revision=revision,
            replaces=replaced,
            budget_annex=bool(item_budget_annex(run) if budget_annex is None else budget_annex),
            scope=_scope_check(session, run.id, cmc_rule),
        ),
    )
    pdf = render_pdf(doc, draft=True, verification_base_url=verification_base_url)
    item = run.work_order_item
    assert item is not None
    cert = Certificate(
        number=number,
        year=today.year,
        sequence=sequence,
        type=doc.certificate_type,
        status=CertificateStatus.DRAFT,
        revision=revision,
        replaces_id=replaces.id if replaces is not None else None,
        amendment_reason=reason,
        run_id=run.id,
        content_sha256=doc.content_hash(),
        content=doc.content_record(),
        pdf_sha256=_store(session, pdf, "application/pdf"),
        valid_until=doc.dates.valid_until,
        drafted_by_id=actor.id,
        customer_id=item.work_order.customer_id,
        equipment_id=item.equipment_id,
    )
    session.add(cert)
    session.flush()
    return cert


def item_budget_annex(run: Run) -> bool:
    """Whether the customer asked for the uncertainty budgets (on the work-order item)."""
    item = run.work_order_item
    return bool(item is not None and item.budget_annex)


def draft_certificate(
    db: Database,
    actor: User,
    run_id: int,
    *,
    today: date | None = None,
    budget_annex: bool | None = None,
    cmc_rule: str | None = None,
    verification_base_url: str | None = None,
) -> CertificateInfo:
    """Draft the certificate of a completed run (number taken now, gapless per year).

    The draft PDF carries "草稿 / DRAFT" across its pages; the first signature signs the
    same content rendered without the mark. ``budget_annex`` (default: the work-order
    item's request) prints the uncertainty budgets as an annex. Every result is checked
    against the released accreditation scope first (``cmc_rule`` "raise" or "refuse",
    default the scope's own rule): a U below the CMC is raised to it or refuses the
    draft, a result outside the scope takes the accreditation mark off the certificate.

    A run gets one certificate: the run's row is locked while the service checks
    that it has none, and partial unique indexes on ``certificates`` refuse a
    second live one whatever the path (:mod:`lims.models.certificates`). Drafts of
    one run started at the same moment therefore give one draft and, for every
    other, :class:`CertificateWorkflowError` naming the certificate that exists.
    """
    require(actor, Permission.SIGN_PERFORMED)
    try:
        with db.write(actor=actor, reason=f"draft certificate of run {run_id}") as session:
            run = session.scalars(select(Run).where(Run.id == run_id).with_for_update()).first()
            if run is None:
                raise NotFoundError(f"run {run_id} does not exist")
            _refuse_second_certificate(session, run_id)
            cert = _new_certificate(
                session,
                actor,
                run,
                today,
                budget_annex=budget_annex,
                cmc_rule=cmc_rule,
                verification_base_url=verification_base_url,
            )
            return _info(session, cert)
    except IntegrityError as exc:
        # another process drafted this run between the check and the insert
        with db.read() as session:
            _refuse_second_certificate(session, run_id)
        raise CertificateWorkflowError(
            f"run {run_id}: the certificate could not be drafted "
            f"({_constraint_name(exc)}); nothing was written"
        ) from exc


def _refuse_second_certificate(session: Session, run_id: int) -> None:
    existing = session.scalars(
        select(Certificate)
        .where(
            Certificate.run_id == run_id,
            Certificate.status.not_in([CertificateStatus.REJECTED]),
        )
        .order_by(Certificate.id)
    ).first()
    if existing is not None:
        raise CertificateWorkflowError(
            f"run {run_id} already has certificate {existing.number} "
            f"({existing.status.value}); amend it instead of drafting another"
        )


def _constraint_name(exc: IntegrityError) -> str:
    """The first line of the database's message: the rule broken, never the values."""
    lines = str(exc.orig).strip().splitlines() if exc.orig is not None else []
    return lines[0] if lines else "a uniqueness rule"


# --------------------------------------------------------------------------- sign


def _refuse(
    db: Database, actor: User | str, number: str, meaning: Meaning, why: str
) -> CertificateWorkflowError:
    """Record a refused signature in the audit trail; return the error to raise."""
    who = actor if isinstance(actor, User) else clipped(actor)  # typed names may be long
    with db.write(actor=who, reason="signature refused") as session:
        log_event(
            session,
            "certificate.sign_refused",
            "certificates",
            clipped(number),
            changes={"meaning": meaning.value, "refused": why},
            reason=why,
            actor=who,
        )
    return CertificateWorkflowError(f"signature refused: {why}")


def sign_certificate(
    db: Database,
    number: str,
    username: str,
    password: str,
    meaning: Meaning,
    policy: PasswordPolicy,
    *,
    archive_dir: Path | None = None,
    anchor_file: Path | None = None,
    anchor_copies: Sequence[Path] = (),
    tsa_url: str | None = None,
    verification_base_url: str | None = None,
) -> CertificateInfo:
    """Sign ``number`` as ``username`` with ``meaning`` (password re-entered at each signing).

    Each signature carries an RFC 3161 timestamp from the lab's TSA (or the external
    TSA at ``tsa_url``). The approval issues the certificate: the PDF receives the
    validation data and a document timestamp (PAdES B-LTA, :mod:`lims.certificates.ltv`),
    its DCC is built and signed by the approver (XMLDSig), both files are kept
    by hash in the database and, with ``archive_dir``, archived there too; with
    ``anchor_file``, the audit chain is then anchored there and in ``anchor_copies``
    (:mod:`lims.audit_anchors`; a copy out of reach is logged, the certificate stays issued).
    """
    from lims.quality.accounts import login

    try:
        user = login(db, username, password, policy, purpose=f"sign {number} ({meaning.value})")
    except AuthenticationError as exc:
        raise _refuse(db, f"login:{username}", number, meaning, f"{username}: {exc}") from exc
    try:
        require(user, SIGN_PERMISSION[meaning])
    except PermissionDenied as exc:
        raise _refuse(db, user, number, meaning, str(exc)) from exc
    problem: str | None = None
    dcc: bytes | None = None
    pdf: bytes | None = None
    issued_pdf: bytes | None = None
    info: CertificateInfo | None = None
    with db.write(actor=user, reason=f"sign certificate {number}: {meaning.value}") as session:
        cert = _certificate(session, number, lock=True)
        signed = session.scalars(select(Signature).where(Signature.certificate_id == cert.id)).all()
        if cert.status is not _BEFORE[meaning]:
            expected = _NEXT_MEANING.get(cert.status)
            problem = f"certificate {number} is {cert.status.value}; " + (
                f"it waits for the {expected.value} signature, not {meaning.value} "
                "(order: performed → reviewed → approved)"
                if expected is not None
                else "it takes no more signatures"
            )
        elif any(s.signer_id == user.id for s in signed):
            problem = f"{username} has already signed {number}; three different people must sign"
        result = None
        if problem is None:
            try:
                signer, _ = signer_for(session, user, password)
                if meaning is Meaning.PERFORMED:  # the draft's mark goes; the content stays
                    current = render_pdf(
                        document_from_record(cert.content),
                        verification_base_url=verification_base_url,
                    )
                else:
                    current = _file(session, cert.pdf_sha256, f"the PDF of {number}")
                timestamper = signing_timestamper(session, tsa_url)
                result = sign_pdf(
                    current,
                    signer,
                    meaning,
                    certificate_type=document_from_record(cert.content).certificate_type,
                    timestamper=timestamper,
                )
                if meaning is Meaning.APPROVED:
                    issued_pdf, dcc = _issued_files(session, cert, result.pdf, signer, timestamper)
            except CertificateError as exc:
                problem = f"{number}: {exc}"
        if result is not None:
            pdf = result.pdf
            pdf_sha = _store(session, pdf, "application/pdf")
            session.add(
                Signature(
                    certificate_id=cert.id,
                    signer_id=user.id,
                    printed_name=result.printed_name,
                    meaning=SignatureMeaning(meaning.value),
                    signed_at=result.signed_at,
                    content_sha256=result.content_hash,
                    pdf_sha256=pdf_sha,
                )
            )
            cert.pdf_sha256 = pdf_sha
            if meaning is Meaning.APPROVED and dcc is not None and issued_pdf is not None:
                pdf = issued_pdf
                cert.pdf_sha256 = _store(session, pdf, "application/pdf")
                cert.dcc_sha256 = _store(session, dcc, "application/xml")
                # Issued at the approval signature's time, as its visible appearance shows.
                cert.issued_at = result.signed_at
                _supersede_original(cert, number)
                run = session.get(Run, cert.run_id)
                if run is not None and run.work_order_item is not None:
                    item_certified(session, run.work_order_item)
            cert.status = _AFTER[meaning]
            session.flush()
            info = _info(session, cert)
    if problem is not None or info is None:
        raise _refuse(db, user, number, meaning, problem or "not signed")
    if archive_dir is not None and dcc is not None and pdf is not None:
        store_bytes(archive_dir, pdf)
        store_bytes(archive_dir, dcc)
    if anchor_file is not None and dcc is not None:
        from lims.audit_anchors import AnchorWriteError, write_anchor

        try:
            write_anchor(db, anchor_file, anchor_copies)
        except AnchorWriteError as exc:
            log.warning("certificate %s issued, but the audit anchor failed: %s", number, exc)
    return info


def _issued_files(
    session: Session, cert: Certificate, signed: bytes, signer: LabSigner, timestamper: Any
) -> tuple[bytes, bytes]:
    """The issued PDF (with validation data and document timestamp when the lab has a TSA
    and a CRL) and its DCC, signed by the approver."""
    pdf = signed
    data = validation_data(session) if timestamper is not None else None
    if data is not None:
        pdf = add_validation_data(pdf, timestamper, data)
    dcc = build_dcc(document_from_record(cert.content), pdf, pdf_file_name=f"{cert.number}.pdf")
    chain = [signer.ca_certificate] if signer.ca_certificate is not None else []
    return pdf, sign_dcc(dcc, signer.private_key, signer.certificate, chain)


def _supersede_original(cert: Certificate, number: str) -> None:
    original = cert.replaces
    if original is not None and original.status is CertificateStatus.ISSUED:
        original.status = CertificateStatus.SUPERSEDED
        original.status_reason = f"superseded by {number}: {cert.amendment_reason or ''}".strip()


# --------------------------------------------------------------------------- amend, reject, revoke


def amend_certificate(
    db: Database,
    actor: User,
    number: str,
    reason: str,
    *,
    today: date | None = None,
    verification_base_url: str | None = None,
) -> CertificateInfo:
    """Draft an amendment: a new number that references and will supersede ``number``.

    The amendment has its own date of issue but keeps the original's 有效期至: it
    replaces the document, it does not verify the instrument again.
    """
    if not (can(actor, Permission.SIGN_APPROVED) or can(actor, Permission.RECORD_FINDING)):
        require(actor, Permission.SIGN_APPROVED)
    if not reason.strip():
        raise CertificateWorkflowError("an amendment needs a reason (ISO/IEC 17025 7.8.8)")
    try:
        return _draft_amendment(db, actor, number, reason, today, verification_base_url)
    except IntegrityError as exc:
        raise CertificateWorkflowError(
            f"certificate {number}: the amendment could not be drafted "
            f"({_constraint_name(exc)}); nothing was written"
        ) from exc


def _draft_amendment(
    db: Database,
    actor: User,
    number: str,
    reason: str,
    today: date | None,
    base_url: str | None,
) -> CertificateInfo:
    with db.write(actor=actor, reason=f"amend certificate {number}: {reason}") as session:
        original = _certificate(session, number, lock=True)
        if original.status is not CertificateStatus.ISSUED:
            raise CertificateWorkflowError(
                f"certificate {number} is {original.status.value}: only an issued certificate "
                "is amended"
            )
        pending = session.scalars(
            select(Certificate).where(
                Certificate.replaces_id == original.id, Certificate.status.in_(_OPEN)
            )
        ).first()
        if pending is not None:
            raise CertificateWorkflowError(
                f"amendment {pending.number} of {number} is already waiting for signatures"
            )
        run = session.get(Run, original.run_id)
        assert run is not None
        cert = _new_certificate(
            session,
            actor,
            run,
            today,
            revision=original.revision + 1,
            replaces=original,
            reason=reason.strip(),
            # The amendment replaces the document, not the verification: the instrument's
            # validity still counts from the original issue, never from the amendment.
            valid_until=original.valid_until,
            verification_base_url=base_url,
        )
        return _info(session, cert)


def reject_certificate(db: Database, actor: User, number: str, reason: str) -> CertificateInfo:
    """Send a draft back: it keeps its number, marked rejected with the reason."""
    if not (can(actor, Permission.SIGN_REVIEWED) or can(actor, Permission.SIGN_APPROVED)):
        require(actor, Permission.SIGN_REVIEWED)
    if not reason.strip():
        raise CertificateWorkflowError("a rejection needs a reason")
    with db.write(actor=actor, reason=f"reject certificate {number}: {reason}") as session:
        cert = _certificate(session, number, lock=True)
        if cert.status not in _OPEN:
            raise CertificateWorkflowError(
                f"certificate {number} is {cert.status.value}: only an unsigned or partly "
                "signed draft is rejected"
            )
        cert.status = CertificateStatus.REJECTED
        cert.status_reason = reason.strip()
        session.flush()
        return _info(session, cert)


def revoke_certificate(db: Database, actor: User, number: str, reason: str) -> CertificateInfo:
    """Withdraw an issued certificate (quality manager), e.g. after a finding on a standard."""
    require(actor, Permission.RECORD_FINDING)
    if not reason.strip():
        raise CertificateWorkflowError("revoking a certificate needs a reason")
    with db.write(actor=actor, reason=f"revoke certificate {number}: {reason}") as session:
        cert = _certificate(session, number, lock=True)
        if cert.status is not CertificateStatus.ISSUED:
            raise CertificateWorkflowError(
                f"certificate {number} is {cert.status.value}: only an issued one is revoked"
            )
        cert.status = CertificateStatus.REVOKED
        cert.status_reason = reason.strip()
        session.flush()
        return _info(session, cert)


def list_pending(db: Database, viewer: User, statuses: Sequence[CertificateStatus]) -> list[str]:
    """Numbers of certificates in the given states (oldest first)."""
    require(viewer, Permission.VIEW_RECORDS)
    with db.read() as session:
        return list(
            session.scalars(
                select(Certificate.number)
                .where(Certificate.status.in_(list(statuses)))
                .order_by(Certificate.id)
            )
        )
