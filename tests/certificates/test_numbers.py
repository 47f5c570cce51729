"""How certificate numbers are written (one home for the PDF, the DCC and the app)."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_EVEN, ROUND_UP, Decimal

import pytest
from lxml import etree

from lims.certificates import CertificateType, build_dcc
from lims.certificates.numbers import (
    distribution_for,
    k_text,
    limit_text,
    row_texts,
    uncertainty_text,
    value_text,
)
from lims.results import LimitKind
from lims.units import Q_
from tests.certificates.conftest import SignedCase


def _two_digits_up(u: str) -> str:
    d = Decimal(u)
    return str(d.quantize(Decimal(1).scaleb(d.adjusted() - 1), rounding=ROUND_UP))


@pytest.mark.parametrize("u", ["0.2", "0.2345", "0.0996", "1.5", "12.01", "0.27"])
def test_u_has_two_significant_digits_rounded_up(u: str) -> None:
    expected = _two_digits_up(u)
    if Decimal(expected).adjusted() > Decimal(u).adjusted():  # 0.0996 → 0.100 → 0.10
        expected = expected[:-1]
    assert uncertainty_text(float(u)) == expected


def test_value_to_the_place_of_u() -> None:
    # U = 0.20 → hundredths; 1.2345 rounds half to even there
    expected = Decimal("1.2345").quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)
    assert value_text(1.2345, 0.2) == str(expected)
    assert value_text(-0.26, 0.27) == "-0.26"
    assert value_text(1004.0, 1.6) == "1004.0"
    # without U: two significant digits, never coarser than units
    assert value_text(0.05491) == "0.055"
    assert value_text(123.4) == "123"
    assert value_text(0.0) == "0"


def test_limits_as_the_regulation_states_them() -> None:
    third = Q_(2 / 3, "percent")
    assert limit_text(third, LimitKind.UPPER) == "≤ 0.667%"
    assert limit_text(Q_(2.0, "percent_FS")) == "±2%FS"
    assert limit_text(Q_(95.0, "percent"), LimitKind.LOWER) == "≥ 95%"
    assert limit_text(Q_(30.0, "s"), LimitKind.UPPER) == "≤ 30 s"
    assert k_text(2.0) == "2"
    assert k_text(2.2839) == "2.28"


def test_distribution_normal_only_for_large_dof() -> None:
    assert distribution_for(2.0, 0.95) == "normal"
    assert distribution_for(2.0, 0.9545, 200.0) == "normal"
    assert distribution_for(4.3, 0.95) == "t"  # the k of ν = 2
    assert distribution_for(2.0, 0.95, 10.0) == "t"


def test_dcc_numbers_are_those_the_pdf_prints(signed: dict[CertificateType, SignedCase]) -> None:
    case = signed[CertificateType.VERIFICATION]
    doc = case.doc
    root = etree.fromstring(build_dcc(doc, case.pdf))
    ns = {"si": "https://ptb.de/si"}
    written_u = [e.text for e in root.iterfind(".//si:expandedUnc/si:uncertainty", ns)]
    distributions = {e.text for e in root.iterfind(".//si:expandedUnc/si:distribution", ns)}
    rows = [r for s in doc.sections for r in s.rows if r.expanded_uncertainty is not None]
    assert written_u == [row_texts(r).uncertainty_number for r in rows]
    assert all(re.fullmatch(r"\d+\.\d\d|\d\.\d|\d\d", u or "") for u in written_u), written_u
    assert distributions <= {"normal", "t"}
