"""The end of the demo: each completed run certified, signed by three people and issued.

zhang drafts and signs as performed, li reviews and wang approves, each with
their own key and demo password; the PDF and the DCC are written next to the
demo database so that they can be opened and verified.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from lims.certificates.model import Meaning
from lims.config import Settings
from lims.db import Database
from lims.models.users import User
from lims.services.certificates import (
    certificate_dcc,
    certificate_pdf,
    draft_certificate,
    sign_certificate,
)
from lims.services.demo import DEMO_USERS
from lims.services.lab import policy_from

__all__ = ["DEMO_SIGNERS", "IssuedCertificate", "issue_demo_certificate"]

#: Who signs the demo's certificates, in order.
DEMO_SIGNERS = (
    ("zhang", Meaning.PERFORMED),
    ("li", Meaning.REVIEWED),
    ("wang", Meaning.APPROVED),
)


@dataclass(frozen=True)
class IssuedCertificate:
    """A certificate the demo issued and the files it wrote."""

    run_id: int
    number: str
    type: str
    pdf: Path
    dcc: Path


def issue_demo_certificate(db: Database, settings: Settings, run_id: int) -> IssuedCertificate:
    """Draft, sign three times and issue the certificate of ``run_id``; write its PDF and DCC."""
    passwords = {u.username: u.password for u in DEMO_USERS}
    with db.read() as s:
        drafter = s.scalars(select(User).where(User.username == DEMO_SIGNERS[0][0])).one()
        s.expunge(drafter)
    info = draft_certificate(
        db,
        drafter,
        run_id,
        cmc_rule=settings.cmc_rule or None,
        verification_base_url=settings.verification_base_url,
    )
    policy = policy_from(settings)
    for username, meaning in DEMO_SIGNERS:
        info = sign_certificate(
            db,
            info.number,
            username,
            passwords[username],
            meaning,
            policy,
            archive_dir=settings.archive_dir,
            anchor_file=settings.anchor_file,
            anchor_copies=settings.anchor_copies,
            tsa_url=settings.tsa_url,
            verification_base_url=settings.verification_base_url,
        )
    out = settings.data_dir / "certificates"
    out.mkdir(parents=True, exist_ok=True)
    pdf_path, dcc_path = out / f"{info.number}.pdf", out / f"{info.number}.xml"
    pdf_path.write_bytes(certificate_pdf(db, drafter, info.number))
    dcc_path.write_bytes(certificate_dcc(db, drafter, info.number))
    return IssuedCertificate(run_id, info.number, info.type.value, pdf_path, dcc_path)
