"""A standard's certificates as data: typed in or read from a DCC this lab issued; the
standard is then usable only inside the calibrated range and validity; a member
instrument is traced on its own."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from sqlalchemy import func, select
from typer.testing import CliRunner

from lims.certificates import CertificateType, create_lab_ca, issue_user_credentials
from lims.certificates.examples import example_document
from lims.cli.main import app
from lims.db import Database
from lims.db.migrate import upgrade
from lims.models import ExternalCertificate, Role
from lims.quality.dcc_intake import DccIntakeError, read_dcc
from lims.quality.errors import QualityError
from lims.quality.standard_certificates import CertificateData, parse_range, parse_value
from lims.quality.standards import UsedRange, add_certificate, check_standard_use
from lims.quality.trace import reverse_trace
from lims.units import Q_
from tests.quality._build import PASSWORD, SYSTEM, add_run, add_standard, build_lab
from tests.quality._dcc import CA_PASSWORD, issued_dcc, sign_xml

VALID_UNTIL = date(2026, 5, 11)


def _expected_points() -> list[float]:
    """The test points of the document the DCC was issued from (m³/h)."""
    doc = example_document(CertificateType.CALIBRATION)
    return [float(r.point.to("m**3/h").magnitude) for r in doc.sections[0].rows]


def _signed() -> bytes:
    d = issued_dcc()
    return sign_xml(d.xml, d.signer_key_pem, d.signer_cert_pem)


def test_read_a_dcc_this_lab_issued() -> None:
    d = issued_dcc()
    reading = read_dcc(_signed(), trust_roots=[d.ca_certificate])
    doc = example_document(CertificateType.CALIBRATION, number="JZ2025-000777")
    assert reading.number == doc.number
    assert reading.issuer.startswith(doc.laboratory.name.zh)
    assert reading.issuer_code == doc.laboratory.accreditation_number
    assert reading.calibrated_on == doc.dates.performance_end
    assert reading.issued_on == doc.dates.issue
    assert reading.valid_until is None  # a calibration certificate states none
    assert reading.signature.startswith("valid: ")
    assert "wang.fang" in reading.signature
    rows = doc.sections[0].rows
    assert [float(v.value.to("percent").magnitude) for v in reading.values] == [
        float(r.error.magnitude) for r in rows
    ]
    assert {float(v.expanded_uncertainty.to("percent").magnitude) for v in reading.values} == {
        float(r.expanded_uncertainty.magnitude) for r in rows if r.expanded_uncertainty is not None
    }
    assert {v.k for v in reading.values} == {2.0}
    (rng,) = reading.ranges
    points = _expected_points()
    assert float(rng.low.to("m**3/h").magnitude) == min(points)
    assert float(rng.high.to("m**3/h").magnitude) == max(points)
    with pytest.raises(DccIntakeError, match="--valid-until"):
        reading.to_data()


def test_dcc_as_certificate_of_another_standard_bounds_its_use(
    db: Database, tmp_path: Path
) -> None:
    lab = build_lab(db, [Role.QUALITY_MANAGER])
    qm = lab.users[Role.QUALITY_MANAGER]
    with db.write(actor=SYSTEM, reason="fixture") as s:
        add_standard(s, "STD-FLOW-X", "FLOW-X-01")
    reading = read_dcc(_signed(), trust_roots=[issued_dcc().ca_certificate])
    with db.write(actor=qm, reason="DCC received") as s:
        cert = add_certificate(
            s, qm, tmp_path / "archive", "STD-FLOW-X", reading.to_data(valid_until=VALID_UNTIL)
        )
        assert cert.values["source"] == "dcc"
    lo, hi = min(_expected_points()), max(_expected_points())
    inside = UsedRange("flow", Q_(lo + 1, "m**3/h"), Q_(hi - 1, "m**3/h"))
    in_litres = UsedRange("flow", Q_(lo * 1000 / 60, "L/min"), Q_(hi * 1000 / 60, "L/min"))
    below = UsedRange("flow", Q_(lo / 2, "m**3/h"), Q_(hi, "m**3/h"))
    above = UsedRange("flow", Q_(lo, "m**3/h"), Q_(hi * 1.5, "m**3/h"))
    other = UsedRange("pressure", Q_(100, "kPa"), Q_(200, "kPa"))
    calibrated = date(2025, 5, 12)
    with db.read() as s:
        assert check_standard_use(s, "STD-FLOW-X", calibrated, [inside, in_litres]) == []
        assert check_standard_use(s, "STD-FLOW-X", VALID_UNTIL, [inside]) == []
        for used in (below, above):
            (problem,) = check_standard_use(s, "STD-FLOW-X", calibrated, [used])
            assert problem.key == "standard:STD-FLOW-X"
            assert "outside the calibrated range" in problem.reason
        (problem,) = check_standard_use(s, "STD-FLOW-X", calibrated, [other])
        assert "no certificate of STD-FLOW-X states a calibrated range" in problem.reason
        for day in (date(2025, 5, 11), date(2026, 5, 12)):
            (problem,) = check_standard_use(s, "STD-FLOW-X", day, [inside])
            assert "JZ2025-000777" in problem.reason
            assert day.isoformat() in problem.reason


def test_broken_signature_schema_and_untrusted_signer_are_refused() -> None:
    d = issued_dcc()
    signed = _signed()
    tampered = signed.replace(b"<si:value>0.45</si:value>", b"<si:value>0.15</si:value>", 1)
    assert tampered != signed
    with pytest.raises(DccIntakeError, match="XML signature does not verify"):
        read_dcc(tampered, trust_roots=[d.ca_certificate])
    broken = d.xml.replace(b"<dcc:endPerformanceDate>", b"<dcc:endOfPerformance>", 1).replace(
        b"</dcc:endPerformanceDate>", b"</dcc:endOfPerformance>", 1
    )
    with pytest.raises(DccIntakeError, match=r"does not validate against DCC 3\.1\.2"):
        read_dcc(broken)
    other_ca = create_lab_ca("Other CA", "Other Lab", CA_PASSWORD)
    creds = issue_user_credentials(
        other_ca, CA_PASSWORD, user_id="x", display_name="x", user_password="pw-x-口令密码"
    )
    key, cert, _ = pkcs12.load_key_and_certificates(creds.pkcs12, "pw-x-口令密码".encode())
    assert key is not None
    assert cert is not None
    foreign = sign_xml(
        d.xml,
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        cert.public_bytes(serialization.Encoding.PEM),
    )
    assert read_dcc(foreign).signature.startswith("valid: ")  # intact, signer not checked
    with pytest.raises(DccIntakeError, match="not issued by a trusted CA"):
        read_dcc(foreign, trust_roots=[d.ca_certificate])
    with pytest.raises(DccIntakeError, match="not well-formed"):
        read_dcc(b"<dcc:digitalCalibrationCertificate")
    with pytest.raises(DccIntakeError, match="not a DCC"):
        read_dcc(b"<certificate/>")


def test_typed_certificate_values_and_ranges() -> None:
    v = parse_value("flow=10.002 m³/h;U=0.025 m³/h;k=2")
    assert v.value == Q_(10.002, "m**3/h")
    assert v.expanded_uncertainty == Q_(0.025, "m**3/h")
    assert parse_value("flow=10 m³/h;U=0.25 %;k=2").expanded_uncertainty == Q_(0.25, "percent")
    r = parse_range("flow=0.1..100 m³/h")
    assert (r.low, r.high) == (Q_(0.1, "m**3/h"), Q_(100, "m**3/h"))
    for bad, why in (
        ("flow=10 m³/h;U=0.1 m³/h", "coverage factor"),
        ("flow=10 m³/h;U=1 kPa;k=2", "another dimension"),
        ("flow=10 bogons", "flow"),
        ("flow", "QUANTITY=VALUE"),
    ):
        with pytest.raises(QualityError, match=why):
            parse_value(bad)
    for bad, why in (("flow=100..0.1 m³/h", "below"), ("flow=1 kPa..2 m³/h", "dimension")):
        with pytest.raises(QualityError, match=why):
            parse_range(bad)
    with pytest.raises(QualityError, match="--valid-until"):
        CertificateData("N", "NIM", date(2026, 1, 5), date(2026, 1, 6), date(2026, 1, 5)).check()


def test_member_instrument_is_traced_on_its_own(db: Database) -> None:
    lab = build_lab(db, [Role.AUDITOR, Role.TECHNICIAN])
    with db.write(actor=SYSTEM, reason="fixture") as s:
        add_standard(s, "STD-M", "MEM-01")
        first = add_run(s, lab, date(2026, 1, 10), ["STD-M"])
        second = add_run(s, lab, date(2026, 3, 10), ["STD-M"])
        add_run(s, lab, date(2026, 3, 11), ["STD-OTHER"])
    with db.read() as s:
        found = reverse_trace(s, lab.users[Role.AUDITOR], "MEM-01")
        assert [r.run_id for r in found.runs] == [first, second]
        assert {r.via for r in found.runs} == {("MEM-01", "STD-M")}
        since = reverse_trace(s, lab.users[Role.AUDITOR], "MEM-01", since=date(2026, 2, 1))
        assert [r.run_id for r in since.runs] == [second]


def _cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Database, list[str]]:
    url = f"sqlite:///{tmp_path / 'lims.sqlite3'}"
    monkeypatch.setenv("LIMS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("LIMS_DATABASE_URL", url)
    db = Database(url)
    upgrade(db.engine)
    pw = tmp_path / "pw"
    pw.write_text(PASSWORD + "\n", encoding="utf-8")
    return db, ["--user", "qualitymanager", "--password-file", str(pw)]


def test_cli_import_add_and_refusals(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db, auth = _cli_env(tmp_path, monkeypatch)
    build_lab(db, [Role.QUALITY_MANAGER])
    with db.write(actor=SYSTEM, reason="fixture") as s:
        add_standard(s, "STD-FLOW-X", "FLOW-X-01")
        add_standard(s, "STD-P", "P-01")

    def count() -> int:
        with db.read() as s:
            return int(s.scalar(select(func.count(ExternalCertificate.id))) or 0)

    dcc_file = tmp_path / "in.dcc.xml"
    dcc_file.write_bytes(_signed())
    ca_file = tmp_path / "ca.pem"
    ca_file.write_bytes(issued_dcc().ca_certificate.public_bytes(serialization.Encoding.PEM))
    runner = CliRunner()
    base = ["standards", "certificate", "import", "FLOW-X-01", str(dcc_file), *auth]
    out = runner.invoke(app, [*base, "--trust", str(ca_file)])
    assert out.exit_code != 0
    assert "--valid-until" in str(out.exception)
    out = runner.invoke(app, [*base, "--trust", str(ca_file), "--valid-until", "2026-05-11"])
    assert out.exit_code != 0
    assert "--yes" in str(out.exception)
    assert count() == 0
    out = runner.invoke(
        app, [*base, "--trust", str(ca_file), "--valid-until", "2026-05-11", "--yes"]
    )
    assert out.exit_code == 0, out.output
    assert "JZ2025-000777" in out.output
    assert "签名 signature:         valid" in out.output
    assert count() == 1
    tampered = tmp_path / "bad.dcc.xml"
    tampered.write_bytes(_signed().replace(b"0.44", b"0.04", 1))
    out = runner.invoke(
        app,
        ["standards", "certificate", "import", "STD-P", str(tampered), *auth, "--yes",
         "--valid-until", "2027-01-01"],
    )  # fmt: skip
    assert out.exit_code != 0
    assert "does not verify" in str(out.exception)
    assert count() == 1
    add = [
        "standards", "certificate", "add", "STD-P", *auth, "--number", "NIM-P-1",
        "--issuer", "NIM", "--calibrated", "2026-01-05", "--issued", "2026-01-08",
        "--valid-until", "2027-01-04", "--value", "pressure=100.02 kPa;U=0.03 kPa;k=2",
        "--range", "pressure=0..200 kPa",
    ]  # fmt: skip
    out = runner.invoke(app, add)
    assert out.exit_code == 0, out.output
    out = runner.invoke(app, ["standards", "certificate", "list", "P-01", *auth])
    assert out.exit_code == 0, out.output
    assert "range pressure 0 … 200 kPa" in out.output
    assert "U = 0.03 kPa (k = 2)" in out.output
    bad = [a if a != "2027-01-04" else "2025-01-04" for a in add]
    out = runner.invoke(app, bad)
    assert out.exit_code != 0
    assert "--valid-until" in str(out.exception)
    assert count() == 2
    db.dispose()
