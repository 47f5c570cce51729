"""Issue a run's certificate as the demo lab's three signers and check it offline: both
files verify (pyHanko, the DCC's signature and content hash), the DCC validates against
the schema, poppler's ``pdfsig`` counts three valid signatures."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from sqlalchemy import select

from lims.certificates import Meaning, validate_dcc
from lims.config import load_settings
from lims.db import Database
from lims.db.migrate import upgrade
from lims.models import CertificateStatus
from lims.models.users import User
from lims.security import PasswordPolicy
from lims.services.certificates import (
    certificate_dcc,
    certificate_pdf,
    draft_certificate,
    sign_certificate,
    verify_certificate_file,
)
from lims.services.demo import DEMO_ADMIN, DEMO_LAB, DEMO_USERS, seed_demo
from lims.services.lab import initialize

SIGNERS = (("zhang", Meaning.PERFORMED), ("li", Meaning.REVIEWED), ("wang", Meaning.APPROVED))


@dataclass(frozen=True)
class Issued:
    """An issued certificate: its number, type, files and PDF text."""

    number: str
    type: str
    pdf: bytes
    dcc: bytes
    text: str


def init_lab(db: Database) -> None:
    """Open the demo lab (its profile, for certificate numbers) and seed its records."""
    url = db.engine.url.render_as_string(hide_password=False)
    initialize(db, load_settings({"LIMS_DATABASE_URL": url}), DEMO_LAB, *DEMO_ADMIN)
    with db.write(actor="test-setup", reason="demo lab") as s:
        seed_demo(s, PasswordPolicy(), date.today())


def sqlite_lab(tmp: Path) -> Iterator[Database]:
    """A migrated, opened SQLite demo lab (for fixtures)."""
    db = Database(f"sqlite:///{tmp / 'lims.sqlite3'}")
    upgrade(db.engine)
    init_lab(db)
    try:
        yield db
    finally:
        db.dispose()


def _user(db: Database, username: str) -> User:
    with db.read() as s:
        u = s.scalars(select(User).where(User.username == username)).one()
        s.expunge(u)
        return u


def issue_and_check(db: Database, run_id: int, tmp: Path) -> Issued:
    """Draft, sign three times, issue; assert that both files verify and the DCC is valid."""
    passwords = {u.username: u.password for u in DEMO_USERS}
    info = draft_certificate(db, _user(db, "zhang"), run_id)
    for username, meaning in SIGNERS:
        info = sign_certificate(
            db,
            info.number,
            username,
            passwords[username],
            meaning,
            PasswordPolicy(),
            archive_dir=tmp / "archive",
        )
    assert info.status is CertificateStatus.ISSUED
    viewer = _user(db, "zhao")
    pdf = certificate_pdf(db, viewer, info.number)
    dcc = certificate_dcc(db, viewer, info.number)
    for data in (pdf, dcc):
        checked = verify_certificate_file(db, data)
        assert checked.ok, checked.summary()
    assert not validate_dcc(dcc)
    path = tmp / f"{info.number}.pdf"
    path.write_bytes(pdf)
    sig = subprocess.run(["pdfsig", str(path)], capture_output=True, text=True, check=False)
    assert sig.stdout.count("Signature Validation: Signature is Valid.") == 3, sig.stdout
    text = subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout
    return Issued(info.number, info.type.value, pdf, dcc, text)
