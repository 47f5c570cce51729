"""The certificate document: validation with clear messages, canonical content record and hash."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import subprocess
import sys
from datetime import date

import pytest

from lims.certificates import (
    CertificateDataError,
    CertificateDocument,
    CertificateType,
    Environment,
    Meaning,
    Replaces,
    ResultRow,
    ResultSection,
    Signatory,
    Verdict,
)
from lims.certificates.examples import example_document
from lims.units import Q_

from .conftest import ROOT


def _replace(doc: CertificateDocument, **changes: object) -> CertificateDocument:
    return dataclasses.replace(doc, **changes)  # type: ignore[arg-type]


def test_content_hash_is_sha256_of_canonical_json() -> None:
    doc = example_document()
    record = doc.content_record()
    # Independent canonical serialization: sorted keys, compact separators, UTF-8.
    expected = hashlib.sha256(
        json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    ).hexdigest()
    assert doc.content_hash() == expected
    assert record["number"] == doc.number
    row = record["sections"][0]["rows"][1]
    assert row["indication"] == {"value": "1005.0", "unit": "micromole / mole"}
    assert row["error"] == {"value": "0.25", "unit": "percent_FS"}
    assert record["deviations"][0]["at"] == "2025-05-12T01:30:00.000000Z"


def test_content_hash_is_stable_across_processes() -> None:
    code = (
        "from lims.certificates.examples import example_document;"
        "print(example_document().content_hash())"
    )
    hashes = set()
    for seed in ("1", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run(
            [sys.executable, "-c", code],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        hashes.add(out.stdout.strip())
    assert hashes == {example_document().content_hash()}


def test_any_change_changes_the_hash() -> None:
    doc = example_document()
    section = doc.sections[0]
    row = dataclasses.replace(section.rows[0], indication=Q_(403.1, "µmol/mol"))
    changed = _replace(
        doc,
        sections=(dataclasses.replace(section, rows=(row, *section.rows[1:])), *doc.sections[1:]),
    )
    assert changed.content_hash() != doc.content_hash()
    assert _replace(doc, simulated=True).content_hash() != doc.content_hash()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"number": ""}, "number"),
        ({"number": "A B"}, "no spaces"),
        ({"standards": ()}, "standards"),
        ({"sections": ()}, "sections"),
        ({"decision_rule": None}, "decision_rule"),
        ({"revision": 1}, "must name the certificate it replaces"),
    ],
)
def test_bad_documents_are_refused_with_the_field_named(
    change: dict[str, object], message: str
) -> None:
    with pytest.raises(CertificateDataError, match=message):
        _replace(example_document(), **change)


def test_type_rules() -> None:
    verification = example_document(CertificateType.VERIFICATION)
    dates_without_validity = dataclasses.replace(verification.dates, valid_until=None)
    with pytest.raises(CertificateDataError, match="valid_until"):
        _replace(verification, dates=dates_without_validity)
    notice = example_document(CertificateType.NON_CONFORMITY)
    assert [s.key for s in notice.failed_sections] == ["indication_error"]
    with pytest.raises(CertificateDataError, match="cannot contain failed items"):
        _replace(
            notice,
            certificate_type=CertificateType.VERIFICATION,
            conclusion=verification.conclusion,
        )
    with pytest.raises(CertificateDataError, match="only a passed verification"):
        _replace(notice, dates=verification.dates)
    calibration = example_document(CertificateType.CALIBRATION)
    assert calibration.decision_rule is None  # no conformity statement, no rule needed


def test_rows_and_environment_are_checked() -> None:
    section = example_document().sections[0]
    good = section.rows[0]
    wrong_unit = dataclasses.replace(good, indication=Q_(3, "s"))
    with pytest.raises(CertificateDataError, match=r"results\[x\]\.rows\[0\]\.indication"):
        ResultSection("x", section.title, (wrong_unit,), Verdict.PASS, section.full_scale)
    with pytest.raises(CertificateDataError, match="coverage factor"):
        dataclasses.replace(good, coverage_factor=None).check("r")
    with pytest.raises(CertificateDataError, match="full scale"):
        ResultSection("x", section.title, (good,), Verdict.PASS)
    bare = ResultRow(
        1.0, good.reference, good.indication, good.error, None, None, None, Verdict.PASS
    )
    with pytest.raises(CertificateDataError, match="expected a quantity"):
        bare.check("r")
    with pytest.raises(CertificateDataError, match="relative_humidity"):
        Environment(Q_(20, "degC"), Q_(3, "kPa"))


def test_signatories_must_be_three_different_people() -> None:
    doc = example_document()
    twice = (
        Signatory(Meaning.PERFORMED, "a", "A"),
        Signatory(Meaning.REVIEWED, "a", "A"),
    )
    with pytest.raises(CertificateDataError, match="three different people"):
        _replace(doc, signatories=twice)


def test_amendment_needs_new_number_and_hash_of_original() -> None:
    original = example_document(number="A-1")
    amended = example_document(number="A-2", amendment_of="A-1")
    assert amended.replaces is not None
    assert amended.replaces.content_hash == original.content_hash()
    assert amended.revision == 1
    with pytest.raises(CertificateDataError, match="new number"):
        _replace(amended, replaces=Replaces("A-2", "r", original.content_hash()))
    with pytest.raises(CertificateDataError, match="content_hash"):
        Replaces("A-1", "r", "abc")
    assert date(2025, 5, 14) == amended.dates.issue
