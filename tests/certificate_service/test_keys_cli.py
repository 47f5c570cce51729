"""`lims keys tsa|crl|export-ca|list` and `lims certificate status-list` in-process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography import x509

from lims.certificates.status_list import CertificateState, read_status_list
from lims.certificates.verdict import read_trust_file
from lims.config import ConfigError, load_settings
from lims.services.demo import DEMO_ADMIN, DEMO_CA_PASSWORD
from tests.certificate_service.builder import lab_database
from tests.lims._cli import Outcome, one_error_line, run_main


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    data = tmp_path / "lab"
    data.mkdir()
    lab_database(f"sqlite:///{data / 'lims.sqlite3'}").dispose()
    (tmp_path / "admin").write_text(DEMO_ADMIN[2] + "\n", encoding="utf-8")
    (tmp_path / "ca").write_text(DEMO_CA_PASSWORD + "\n", encoding="utf-8")
    (tmp_path / "wrong-ca").write_text("not the passphrase\n", encoding="utf-8")

    def run(*args: str) -> Outcome:
        return run_main(list(args), {"LIMS_DATA_DIR": str(data)}, monkeypatch, capsys)

    return run, tmp_path


def test_tsa_crl_export_and_status_list(cli) -> None:  # type: ignore[no-untyped-def]
    run, tmp = cli
    admin = ["--user", "admin", "--password-file", str(tmp / "admin")]
    r = run("keys", "tsa", *admin, "--ca-password-file", str(tmp / "ca"))
    assert r.code == 0, r.err
    assert "time-stamping authority issued" in r.out
    r = run("keys", "crl", *admin, "--ca-password-file", str(tmp / "ca"), "--days", "30")
    assert r.code == 0, r.err
    assert "CRL 2 issued" in r.out
    assert "wrong password" in one_error_line(
        run("keys", "crl", *admin, "--ca-password-file", str(tmp / "wrong-ca"))
    )
    r = run("keys", "list", *admin)
    assert r.out.count("TSA ") == 2  # created with the CA, then rotated
    assert "CRL 1" in r.out
    assert "CRL 2" in r.out

    pem = tmp / "lab-ca.pem"
    r = run("keys", "export-ca", str(pem))
    assert r.code == 0, r.err
    certs = x509.load_pem_x509_certificates(pem.read_bytes())
    assert len(certs) == 3  # the CA and both TSA certificates
    roots = read_trust_file(pem.read_bytes())
    assert len(roots) == 1
    for tsa in certs[1:]:
        tsa.verify_directly_issued_by(roots[0])

    out = tmp / "status.json"
    r = run(
        "certificate", "status-list", "-o", str(out), *admin,
        "--ca-password-file", str(tmp / "ca"),
    )  # fmt: skip
    assert r.code == 0, r.err
    listing = read_status_list(out.read_bytes(), roots)
    assert listing.entries == ()  # nothing issued yet
    assert json.loads(out.read_bytes())["algorithm"] == "ecdsa-sha256"
    assert CertificateState.REVOKED.value == "revoked"


def test_tsa_url_and_verification_address_settings() -> None:
    s = load_settings(
        {
            "LIMS_DATA_DIR": "/nonexistent-lab",
            "LIMS_TSA_URL": "https://tsa.example.cn/tsr",
            "LIMS_VERIFICATION_BASE_URL": "https://verify.example-lab.cn/",
        }
    )
    assert s.tsa_url == "https://tsa.example.cn/tsr"
    assert s.verification_base_url == "https://verify.example-lab.cn"
    assert s.sources["tsa_url"] == "LIMS_TSA_URL"
    with pytest.raises(ConfigError, match="LIMS_TSA_URL"):
        load_settings({"LIMS_DATA_DIR": "/nonexistent-lab", "LIMS_TSA_URL": "ftp://x"})


def test_qr_code_carries_the_verification_address() -> None:
    from lims.certificates import qr_payload
    from lims.services.public_verification import verification_address

    digest = "ab" * 32
    assert qr_payload("JD2026-00001", digest, "https://verify.example-lab.cn/") == (
        f"https://verify.example-lab.cn/v/JD2026-00001?h={digest}"
    )
    assert verification_address("https://v.cn", "A/1", digest) == f"https://v.cn/v/A%2F1?h={digest}"


def test_external_tsa_is_used_when_configured() -> None:
    from pyhanko.sign.timestamps import HTTPTimeStamper

    from lims.certificates.tsa import timestamper_for

    stamper = timestamper_for("https://tsa.example.cn/tsr", None, None)
    assert isinstance(stamper, HTTPTimeStamper)
