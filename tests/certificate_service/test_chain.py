"""The whole chain — run → draft → performed → reviewed → approved → issued — per type."""

from __future__ import annotations

import hashlib
import re
import subprocess
from datetime import timedelta
from decimal import ROUND_HALF_EVEN, ROUND_UP, Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from lxml import etree
from sqlalchemy import select

from lims.certificates import Meaning, validate_dcc
from lims.db import Database
from lims.models import (
    AuditEvent,
    Certificate,
    CertificateStatus,
    LabProfile,
    Run,
    Signature,
    Verdict,
)
from lims.quality.archive import archive_path
from lims.services.certificates import (
    certificate_dcc,
    certificate_pdf,
    draft_certificate,
    sign_certificate,
    verify_certificate_file,
)
from tests.certificate_service.builder import (
    FULL_SCALE,
    PASSWORDS,
    POLICY,
    Point,
    make_gas_run,
    user,
)

SIGNERS = (("zhang", Meaning.PERFORMED), ("li", Meaning.REVIEWED), ("wang", Meaning.APPROVED))
PASSING = [
    Point("zero", 0.0, 1.2, 4.0, Verdict.PASS),
    Point("P20", 400.0, 6.3, 9.1, Verdict.PASS),
    Point("P50", 1000.0, -12.7, 15.3, Verdict.PASS),
]
FAILING = [
    Point("zero", 0.0, 0.4, 4.0, Verdict.PASS),
    Point("P20", 400.0, 55.0, 9.1, Verdict.FAIL),
    Point("P50", 1000.0, 21.0, 15.3, Verdict.PASS),
]
DCC_NS = {"dcc": "https://ptb.de/dcc", "si": "https://ptb.de/si"}


def up2(x: float) -> Decimal:
    """U to two significant digits, rounded up (the lab's rule), computed independently."""
    d = Decimal(repr(x))
    return d.quantize(Decimal(1).scaleb(d.adjusted() - 1), rounding=ROUND_UP)


def at(x: float, u: Decimal) -> Decimal:
    """``x`` rounded half-to-even (GB/T 8170) at the decimal place of ``u``."""
    return Decimal(repr(x)).quantize(u, rounding=ROUND_HALF_EVEN)


def issue(db: Database, run_id: int, archive: Path) -> str:
    info = draft_certificate(db, user(db, "zhang"), run_id)
    assert info.status is CertificateStatus.DRAFT
    for username, meaning in SIGNERS:
        info = sign_certificate(
            db, info.number, username, PASSWORDS[username], meaning, POLICY, archive_dir=archive
        )
    assert info.status is CertificateStatus.ISSUED
    return info.number


@pytest.mark.parametrize(
    ("item_id", "points", "expected_type", "title_zh", "title_en"),
    [
        (1, PASSING, "verification_certificate", "检定证书", "Verification Certificate"),
        (1, FAILING, "nonconformity_notice", "检定结果通知书", "Notice of Verification Result"),
        (2, PASSING, "calibration_certificate", "校准证书", "Calibration Certificate"),
    ],
    ids=["verification", "nonconformity", "calibration"],
)
def test_chain_per_type(
    lab: Database,
    tmp_path: Path,
    artifacts_dir: Path,
    item_id: int,
    points: list[Point],
    expected_type: str,
    title_zh: str,
    title_en: str,
) -> None:
    run_id = make_gas_run(lab, item_id, points)
    archive = tmp_path / "archive"
    number = issue(lab, run_id, archive)
    viewer = user(lab, "zhao")
    pdf = certificate_pdf(lab, viewer, number)
    dcc = certificate_dcc(lab, viewer, number)
    (artifacts_dir / "certificates").mkdir(parents=True, exist_ok=True)
    (artifacts_dir / "certificates" / f"chain-{expected_type}.pdf").write_bytes(pdf)

    with lab.read() as s:
        cert = s.scalars(select(Certificate).where(Certificate.number == number)).one()
        sigs = s.scalars(select(Signature).where(Signature.certificate_id == cert.id)).all()
        assert cert.type.value == expected_type
        assert [sg.meaning.value for sg in sigs] == ["performed", "reviewed", "approved"]
        assert len({sg.signer_id for sg in sigs}) == 3
        # Issued at the approval signature's (visible) time.
        assert cert.issued_at == sigs[-1].signed_at
        assert all(sg.content_sha256 == cert.content_sha256 for sg in sigs)
        assert cert.pdf_sha256 == hashlib.sha256(pdf).hexdigest()
        assert cert.dcc_sha256 == hashlib.sha256(dcc).hexdigest()
        assert cert.issued_at is not None
        # certificate dates are the lab's calendar dates (its zone), not UTC ones
        profile = s.scalars(select(LabProfile)).one()
        lab_zone = ZoneInfo(profile.time_zone)
        issued_on = cert.issued_at.astimezone(lab_zone).date()
        content = cert.content
        # The content record is fixed before approval: its date of issue stays empty.
        assert content["dates"]["issue"] is None
        if expected_type == "verification_certificate":
            # 有效期至: one year (the table's 检定周期) from the verification date, less a day.
            run = s.get(Run, run_id)
            assert run is not None
            assert run.ended_at is not None
            verified = run.ended_at.astimezone(lab_zone).date()
            assert cert.valid_until == verified.replace(year=verified.year + 1) - timedelta(1)
        else:
            assert cert.valid_until is None
        # Each signature and every change of the certificate is in the audit trail.
        events = s.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
        signed = [e for e in events if e.table_name == "signatures"]
        assert {e.record_id for e in signed} >= {str(sg.id) for sg in sigs}
        cert_events = [
            e for e in events if e.table_name == "certificates" and e.record_id == str(cert.id)
        ]
        assert len(cert_events) >= 4  # drafted, then one change per signature

    # The archive holds both files under their hashes.
    for data in (pdf, dcc):
        path = archive_path(archive, hashlib.sha256(data).hexdigest())
        assert path.read_bytes() == data

    # Offline verification: pyHanko (through the service) and poppler's pdfsig.
    assert verify_certificate_file(lab, pdf).ok
    assert verify_certificate_file(lab, dcc).ok
    pdf_path = tmp_path / f"{number}.pdf"
    pdf_path.write_bytes(pdf)
    sig = subprocess.run(["pdfsig", str(pdf_path)], capture_output=True, text=True, check=False)
    assert sig.stdout.count("Signature Validation: Signature is Valid.") == 3, sig.stdout

    # Text: Chinese and English, the number and "page x of y" on every page.
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf_path), "-"], capture_output=True, text=True, check=True
    ).stdout
    pages = [p for p in text.split("\f") if p.strip()]
    assert title_zh in text
    assert title_en in text
    for i, page in enumerate(pages, start=1):
        assert number in page
        assert f"第 {i} 页 共 {len(pages)} 页" in page
        assert f"Page {i} of {len(pages)}" in page
    fonts = subprocess.run(
        ["pdffonts", str(pdf_path)], capture_output=True, text=True, check=True
    ).stdout.splitlines()[2:]
    assert fonts
    assert all(re.split(r"\s+", f.strip())[-5] == "yes" for f in fonts), fonts

    # The date of issue: the approval signature's date in the lab's zone, in the PDF body's
    # words and the DCC; a DCC whose date was changed fails verification and says so.
    assert "the date of the approval signature" in text
    assert not validate_dcc(dcc)
    root = etree.fromstring(dcc)
    stated = root.find(".//dcc:statement[@refType='lims_issueDate']/dcc:date", DCC_NS)
    assert stated is not None
    assert stated.text == issued_on.isoformat()
    other = (issued_on + timedelta(days=1)).isoformat().encode()
    forged = dcc.replace(
        f"<dcc:date>{issued_on.isoformat()}</dcc:date>".encode(),
        b"<dcc:date>" + other + b"</dcc:date>",
    )
    assert forged != dcc
    problems = verify_certificate_file(lab, forged).problems
    assert any("date of issue" in p for p in problems), problems
    rows = root.findall(
        ".//dcc:result[@refType='lims_indication_error']/dcc:data/dcc:list/dcc:list", DCC_NS
    )
    assert len(rows) == len(points)
    section = next(x for x in content["sections"] if x["key"] == "indication_error")
    for p, row, el in zip(points, section["rows"], rows, strict=True):
        if expected_type == "calibration_certificate":
            u = up2(p.u)
            err, unit = at(p.error, u), "µmol/mol"
        else:
            u = up2(p.u / FULL_SCALE * 100)
            err, unit = at(p.error / FULL_SCALE * 100, u), "%FS"
        assert Decimal(row["error"]["value"]) == err
        assert Decimal(row["expanded_uncertainty"]["value"]) == u
        real = el.find("dcc:quantity[@refType='lims_error']/si:real", DCC_NS)
        assert Decimal(real.findtext("si:value", namespaces=DCC_NS)) == err
        assert Decimal(real.findtext("si:expandedUnc/si:uncertainty", namespaces=DCC_NS)) == u
        shown = f"{err}{unit}" if unit == "%FS" else f"{err} {unit}"
        assert shown in text, shown
        if expected_type != "calibration_certificate":
            assert row["verdict"] == p.verdict.value
    if expected_type == "nonconformity_notice":
        assert "P20" in text
        assert "不合格" in text
