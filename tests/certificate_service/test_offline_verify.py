"""Offline verification for third parties: exported CA, signed status list, no database.

The lab side runs through the services on SQLite and PostgreSQL; the verifier is the
installed ``lims`` console script in a fresh, empty directory used as data directory
and HOME: it must report the certificates (intact, simulated, altered, revoked) and
leave that directory empty.
"""

from __future__ import annotations

import base64
import io
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from lxml import etree  # type: ignore[import-untyped]

from lims.certificates import verify_pdf
from lims.certificates.verdict import FileVerdict, read_trust_file
from lims.db import Database
from lims.models import Verdict
from lims.services.certificates import (
    certificate_dcc,
    certificate_pdf,
    revoke_certificate,
)
from lims.services.demo import DEMO_CA_PASSWORD
from lims.services.public_verification import UploadVerdict, verify_upload
from lims.services.status_list import write_status_list
from lims.services.timestamping import exported_trust_pem
from tests.certificate_service.builder import Point, make_gas_run, user
from tests.certificate_service.test_chain import issue
from tests.lims._cli import Outcome, clean_env, run_script

PASS = [Point("P20", 400.0, 3.0, 9.0, Verdict.PASS)]


def _verify(home: Path, *args: str) -> Outcome:
    """``lims certificate verify`` with an empty directory as data directory and HOME."""
    env = clean_env(home / "data", HOME=str(home), XDG_DATA_HOME=str(home / "xdg"))
    return run_script(["certificate", "verify", *args], env)


def _with_annotation(pdf: bytes) -> bytes:
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    page = writer.root["/Pages"]["/Kids"][0].get_object()
    annot = generic.DictionaryObject(
        {
            generic.NameObject("/Type"): generic.NameObject("/Annot"),
            generic.NameObject("/Subtype"): generic.NameObject("/Text"),
            generic.NameObject("/Rect"): generic.ArrayObject(
                [generic.FloatObject(v) for v in (50, 50, 70, 70)]
            ),
            generic.NameObject("/Contents"): generic.TextStringObject("不合格 fail"),
        }
    )
    annots = page.get("/Annots", generic.ArrayObject())
    annots.append(writer.add_object(annot))
    page[generic.NameObject("/Annots")] = annots
    writer.update_container(page)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_offline_verification_in_an_empty_directory(lab: Database, tmp_path: Path) -> None:
    simulated = issue(lab, make_gas_run(lab, 1, PASS), tmp_path / "archive")
    real = issue(lab, make_gas_run(lab, 1, PASS, simulated=False), tmp_path / "archive")
    viewer = user(lab, "zhao")
    files = tmp_path / "files"
    files.mkdir()
    for number, stem in ((simulated, "sim"), (real, "real")):
        (files / f"{stem}.pdf").write_bytes(certificate_pdf(lab, viewer, number))
        (files / f"{stem}.xml").write_bytes(certificate_dcc(lab, viewer, number))
    with lab.read() as session:
        ca_pem = exported_trust_pem(session)
    ca = files / "lab-ca.pem"
    ca.write_bytes(ca_pem)
    assert ca_pem.count(b"BEGIN CERTIFICATE") == 2  # the lab CA and its TSA

    # the issued PDF is PAdES B-LTA: timestamped signatures, DSS, document timestamp
    report = verify_pdf((files / "real.pdf").read_bytes(), read_trust_file(ca_pem))
    assert report.ok, report.summary()
    assert report.long_term

    if shutil.which("pdfsig"):  # poppler lists the three signatures and the document timestamp
        listed = subprocess.run(
            ["pdfsig", "-nocert", str(files / "real.pdf")], capture_output=True, text=True
        ).stdout
        assert listed.count("Signature #") == 4, listed
        assert "Signature Field Name: DocTimeStamp" in listed

    home = tmp_path / "empty"
    home.mkdir()
    r = _verify(home, str(files / "real.pdf"), "--ca", str(ca))
    assert r.code == 0, r.out + r.err
    assert r.out.startswith("有效")
    assert "VALID" in r.out
    r = _verify(home, str(files / "real.xml"), "--ca", str(ca), "--json")
    assert r.code == 0, r.out + r.err
    shown = json.loads(r.out)
    assert shown["verdict"] == "valid"
    assert shown["simulated"] is False
    assert shown["long_term"] is True
    assert shown["dcc_signer"] == "wang"

    for suffix in ("pdf", "xml"):
        r = _verify(home, str(files / f"sim.{suffix}"), "--ca", str(ca), "--json")
        assert r.code == FileVerdict.SIMULATED.exit_code == 4, r.out + r.err
        shown = json.loads(r.out)
        assert shown["simulated"] is True
        assert shown["verdict"] == "simulated"
    r = _verify(home, str(files / "sim.pdf"), "--ca", str(ca))
    assert "模拟" in r.out
    assert "SIMULATED" in r.out

    # a byte flip: "altered", once, and no "does not chain" for every signature
    data = bytearray((files / "real.pdf").read_bytes())
    data[len(data) // 3] ^= 0x01
    (files / "flipped.pdf").write_bytes(bytes(data))
    r = _verify(home, str(files / "flipped.pdf"), "--ca", str(ca))
    assert r.code == FileVerdict.ALTERED.exit_code == 1, r.out
    assert r.out.count("ALTERED") == 1
    assert "does not chain" not in r.out
    assert "Traceback" not in r.out + r.err

    # an incremental edit (an annotation after the document timestamp)
    (files / "annotated.pdf").write_bytes(_with_annotation((files / "real.pdf").read_bytes()))
    r = _verify(home, str(files / "annotated.pdf"), "--ca", str(ca))
    assert r.code == 1, r.out

    # an edited DCC value
    root = etree.fromstring((files / "real.xml").read_bytes())
    ns = {"dcc": "https://ptb.de/dcc"}
    node = root.xpath("//dcc:statement[@refType='basic_conformity']/dcc:conformity", namespaces=ns)
    node[0].text = "fail"
    (files / "edited.xml").write_bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))
    r = _verify(home, str(files / "edited.xml"), "--ca", str(ca))
    assert r.code == 1, r.out
    assert "ALTERED" in r.out

    # revoked: known from the signed status list alone
    revoke_certificate(lab, user(lab, "chen"), real, "reference gas certificate withdrawn")
    status = files / "status.json"
    status.write_bytes(write_status_list(lab, viewer, DEMO_CA_PASSWORD))
    r = _verify(home, str(files / "real.pdf"), "--ca", str(ca), "--status", str(status), "--json")
    assert r.code == FileVerdict.REVOKED.exit_code == 6, r.out + r.err
    shown = json.loads(r.out)
    assert shown["state"] == "revoked"
    assert any("reference gas certificate withdrawn" in f["en"] for f in shown["findings"])
    # a status list edited to say "issued" again is refused
    envelope = json.loads(status.read_bytes())
    envelope["payload"] = envelope["payload"].replace('"revoked"', '"issued"')
    (files / "forged-status.json").write_text(json.dumps(envelope), encoding="utf-8")
    r = _verify(
        home,
        str(files / "real.pdf"),
        "--ca",
        str(ca),
        "--status",
        str(files / "forged-status.json"),
    )
    assert r.code == FileVerdict.UNVERIFIABLE.exit_code, r.out
    assert "status list" in r.out

    # nothing was written: no database, no log, no key directory
    assert list(home.iterdir()) == []


def test_portal_upload_uses_the_same_verdicts(lab: Database, tmp_path: Path) -> None:
    number = issue(lab, make_gas_run(lab, 1, PASS), tmp_path / "archive")
    pdf = certificate_pdf(lab, user(lab, "zhao"), number)
    assert verify_upload(lab, pdf, "c.pdf").verdict is UploadVerdict.SIMULATED
    # flipped bytes that leave the file readable make it "altered" (a flip that breaks the
    # file's syntax makes it unreadable: "unverifiable"); never also "does not chain"
    altered = 0
    for at in range(len(pdf) // 3, len(pdf) // 3 + 40 * 997, 997):
        data = bytearray(pdf)
        data[at] ^= 0x01
        outcome = verify_upload(lab, bytes(data), "c.pdf")
        if outcome.verdict is UploadVerdict.UNKNOWN:
            continue
        assert outcome.verdict is UploadVerdict.INVALID, at
        assert not any("does not chain" in p for p in outcome.problems), outcome.problems
        altered += 1
    assert altered >= 10
    xml = certificate_dcc(lab, user(lab, "zhao"), number)
    root = etree.fromstring(xml)
    encoded = root.find("{https://ptb.de/dcc}document/{https://ptb.de/dcc}dataBase64")
    assert base64.b64decode(encoded.text) == pdf
    assert verify_upload(lab, xml, "c.xml").verdict is UploadVerdict.SIMULATED


@pytest.mark.parametrize("what", ["not a certificate", "missing CA"])
def test_bad_input_is_one_line(tmp_path: Path, what: str) -> None:
    home = tmp_path / "empty"
    home.mkdir()
    junk = tmp_path / "junk.txt"
    junk.write_text("hello", encoding="utf-8")
    ca = tmp_path / "ca.pem"
    ca.write_text("not pem", encoding="utf-8")
    if what == "not a certificate":
        pem = tmp_path / "real-ca.pem"
        from lims.certificates import create_lab_ca

        pem.write_bytes(create_lab_ca("X CA", "X Lab", "x-pass-2026").certificate_pem)
        r = _verify(home, str(junk), "--ca", str(pem))
        assert r.code == FileVerdict.UNVERIFIABLE.exit_code
        assert "neither a certificate PDF nor a DCC" in r.out
    else:
        r = _verify(home, str(junk), "--ca", str(tmp_path / "absent.pem"))
        assert r.code != 0
        lines = [ln for ln in r.err.splitlines() if ln.strip()]
        assert len(lines) == 1, r.err
        assert "absent.pem" in lines[0]
    assert "Traceback" not in r.out + r.err
    assert list(home.iterdir()) == []


def test_a_certificate_altered_inside_a_signature_is_altered_not_untrusted(
    lab: Database, tmp_path: Path
) -> None:
    """A flip inside a signer's certificate embedded in a signature container: the file
    was altered, and that is the finding; the broken chain that follows is not reported
    as if the file were intact but signed by a stranger."""
    from pyhanko.pdf_utils.reader import PdfFileReader

    number = issue(lab, make_gas_run(lab, 1, PASS), tmp_path / "archive")
    pdf = certificate_pdf(lab, user(lab, "zhao"), number)
    reader = PdfFileReader(io.BytesIO(pdf))
    signer_der = reader.embedded_signatures[0].signer_cert.dump()
    where = pdf.lower().find(signer_der.hex().encode())
    assert where > 0, "the signer's certificate is stored hex-encoded in /Contents"
    tried = 0
    for nibble in range(20, len(signer_der) * 2 - 20, max(1, len(signer_der) // 8)):
        data = bytearray(pdf)
        data[where + nibble] = ord("0") if data[where + nibble] != ord("0") else ord("1")
        outcome = verify_upload(lab, bytes(data), "c.pdf")
        assert outcome.verdict is UploadVerdict.INVALID, nibble
        assert not any("does not chain" in p for p in outcome.problems), outcome.problems
        tried += 1
    assert tried >= 10


def test_a_genuine_certificate_against_another_ca_is_unverifiable_not_altered(
    lab: Database, tmp_path: Path
) -> None:
    """Checked against a CA that is not the lab's, an untouched certificate is not shown
    to be the lab's (every signature names the stranger), but nothing in it was changed."""
    from lims.certificates import create_lab_ca
    from lims.certificates.verdict import check_certificate_file

    number = issue(lab, make_gas_run(lab, 1, PASS), tmp_path / "archive")
    pdf = certificate_pdf(lab, user(lab, "zhao"), number)
    other = create_lab_ca("Other CA", "Other Lab", "other-pass-2026")
    check = check_certificate_file(pdf, [other.certificate], name="c.pdf")
    assert check.verdict is FileVerdict.UNVERIFIABLE
    report = verify_pdf(pdf, [other.certificate])
    assert not report.altered
    assert all(any("does not chain" in p for p in s.problems) for s in report.signatures)
