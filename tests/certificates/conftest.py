"""Fixtures: a lab CA with three signers, and one signed PDF per certificate type (session)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from lims.certificates import (
    CertificateDocument,
    CertificateType,
    LabCA,
    LabSigner,
    Meaning,
    UserCredentials,
    create_lab_ca,
    issue_user_credentials,
    load_signer,
    render_pdf,
    sign_pdf,
)
from lims.certificates.examples import example_document

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "artifacts" / "certificates"
CA_PASSWORD = "ca-pass-仅测试"
USERS = {
    Meaning.PERFORMED: ("zhang.wei", "张伟 Zhang Wei"),
    Meaning.REVIEWED: ("li.na", "李娜 Li Na"),
    Meaning.APPROVED: ("wang.fang", "王芳 Wang Fang"),
}


def password_of(user_id: str) -> str:
    return f"pw-{user_id}-口令"


@dataclass(frozen=True)
class Pki:
    ca: LabCA
    credentials: dict[Meaning, UserCredentials]
    signers: dict[Meaning, LabSigner]


@dataclass(frozen=True)
class SignedCase:
    doc: CertificateDocument
    unsigned: bytes
    stages: tuple[bytes, ...]
    """PDF after the 1st, 2nd and 3rd signature."""

    @property
    def pdf(self) -> bytes:
        return self.stages[-1]


_written: list[Path] = []


@pytest.fixture(scope="session")
def out_dir() -> Path:
    # not emptied first: the suite runs in parallel workers that may both write here
    OUT.mkdir(parents=True, exist_ok=True)
    _written.append(OUT)
    return OUT


@pytest.fixture(scope="session")
def pki() -> Pki:
    ca = create_lab_ca("示例市碳计量中心 Root CA (test)", "示例市碳计量中心", CA_PASSWORD)
    creds = {
        m: issue_user_credentials(
            ca, CA_PASSWORD, user_id=uid, display_name=name, user_password=password_of(uid)
        )
        for m, (uid, name) in USERS.items()
    }
    signers = {m: load_signer(c.pkcs12, password_of(c.user_id), ca=ca) for m, c in creds.items()}
    return Pki(ca, creds, signers)


def _sign_all(doc: CertificateDocument, pki: Pki) -> SignedCase:
    pdf = render_pdf(doc)
    stages = []
    current = pdf
    for meaning in Meaning:
        current = sign_pdf(current, pki.signers[meaning], meaning).pdf
        stages.append(current)
    return SignedCase(doc, pdf, tuple(stages))


@pytest.fixture(scope="session")
def signed(pki: Pki, out_dir: Path) -> dict[CertificateType, SignedCase]:
    """Each certificate type signed three times; the calibration one is simulated."""
    cases = {}
    for kind in CertificateType:
        doc = example_document(
            kind,
            number=f"T2025-{list(CertificateType).index(kind) + 1:06d}",
            simulated=kind is CertificateType.CALIBRATION,
        )
        case = _sign_all(doc, pki)
        (out_dir / f"{kind.value}-{doc.number}.pdf").write_bytes(case.pdf)
        cases[kind] = case
    return cases


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _written and any(OUT.iterdir()):
        terminalreporter.write_line(f"example certificates (PDF, DCC) written to: {OUT}")
