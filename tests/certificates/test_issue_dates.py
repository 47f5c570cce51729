"""Dates a lab can defend: the date of issue is the approval's date in the lab's time zone,
and the stored approval time is the signature's own signing time (JJF 1069, Annex 11 §14)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from lxml import etree  # type: ignore[import-untyped]

from lims.certificates import (
    CertificateDataError,
    CertificateType,
    Meaning,
    build_dcc,
    render_pdf,
    sign_pdf,
    verify_dcc,
    verify_pdf,
)
from lims.certificates.examples import example_document

from .conftest import Pki

NS = {"dcc": "https://ptb.de/dcc"}
ISSUE = "dcc:administrativeData/dcc:statements/dcc:statement[@refType='lims_issueDate']/dcc:date"
BEIJING = timezone(timedelta(hours=8))  # China Standard Time has no daylight saving

CASES = [
    # approved at 23:59:59.9 UTC on New Year's Eve: Beijing is already in the new year
    (datetime(2026, 12, 31, 23, 59, 59, 900_000, tzinfo=UTC), "Asia/Shanghai", date(2027, 1, 1)),
    (datetime(2026, 12, 31, 23, 59, 59, 900_000, tzinfo=UTC), "UTC", date(2026, 12, 31)),
    # approved at 07:00 Beijing time: the UTC date is still the day before
    (datetime(2026, 7, 1, 7, 0, tzinfo=BEIJING), "Asia/Shanghai", date(2026, 7, 1)),
    (datetime(2026, 7, 1, 7, 0, tzinfo=BEIJING), "UTC", date(2026, 6, 30)),
]


@pytest.mark.parametrize(("approved_at", "zone_name", "expected"), CASES)
def test_date_of_issue_follows_the_labs_zone_in_pdf_dcc_and_verify(
    pki: Pki, approved_at: datetime, zone_name: str, expected: date
) -> None:
    doc = example_document(CertificateType.VERIFICATION, number=f"TZ-{expected:%Y%m%d}")
    doc = dataclasses.replace(
        doc, dates=dataclasses.replace(doc.dates, issue=None, time_zone=zone_name)
    )
    pdf = render_pdf(doc)
    approval = None
    for meaning in Meaning:
        at = approved_at - timedelta(hours=1) if meaning is not Meaning.APPROVED else approved_at
        result = sign_pdf(pdf, pki.signers[meaning], meaning, at=at)
        pdf = result.pdf
        approval = result
    assert approval is not None
    # the stored approval time is the one the CMS signature carries, to the second
    report = verify_pdf(pdf, [pki.ca.certificate])
    assert report.ok, report.summary()
    cms_time = next(s.signed_at for s in report.signatures if s.meaning is Meaning.APPROVED)
    assert cms_time is not None
    assert approval.signed_at == cms_time.astimezone(UTC)
    assert approval.signed_at == approved_at.astimezone(UTC).replace(microsecond=0)
    # the DCC states the lab's date, and verification agrees with it
    xml = build_dcc(doc, pdf)
    assert etree.fromstring(xml).findtext(ISSUE, None, NS) == expected.isoformat()
    checked = verify_dcc(xml, [pki.ca.certificate], require_signature=False)
    assert checked.ok, checked.summary()
    # a DCC claiming the UTC (or any other) date is caught
    other = expected - timedelta(days=1)
    forged = xml.replace(
        f"<dcc:date>{expected.isoformat()}</dcc:date>".encode(),
        f"<dcc:date>{other.isoformat()}</dcc:date>".encode(),
    )
    assert forged != xml
    bad = verify_dcc(forged, [pki.ca.certificate], require_signature=False)
    assert not bad.ok
    assert "date of issue" in bad.summary()


def test_an_unknown_zone_is_refused_with_its_name() -> None:
    doc = example_document(CertificateType.VERIFICATION)
    with pytest.raises(CertificateDataError, match="Mars/Olympus"):
        dataclasses.replace(doc, dates=dataclasses.replace(doc.dates, time_zone="Mars/Olympus"))
