"""Rounding of U and results: GB/T 8170 half-even, round-up option, carries."""

from __future__ import annotations

from decimal import Decimal

import pytest

from lims.calc import (
    CalcError,
    RoundingMode,
    format_decimal,
    round_result,
    round_significant,
    round_to_exponent,
    round_uncertainty,
)
from lims.units import Q_

UP = RoundingMode.UP


@pytest.mark.parametrize(
    ("x", "digits", "mode", "expected"),
    [
        ("0.125", 2, None, "0.12"),  # exactly half, kept digit even -> down
        ("0.135", 2, None, "0.14"),  # exactly half, kept digit odd -> up
        ("0.1250", 2, None, "0.12"),  # zeros after the 5 are still "exactly half"
        ("0.12501", 2, None, "0.13"),  # non-zero after the 5 -> up
        ("0.124", 2, None, "0.12"),
        ("0.126", 2, None, "0.13"),
        ("0.25", 1, None, "0.2"),
        ("0.35", 1, None, "0.4"),
        ("0.0996", 2, None, "0.10"),  # carry: 0.100 keeps only two significant digits
        ("9.96", 2, None, "10"),
        ("99.5", 2, None, "100"),
        ("0.995", 2, None, "1.0"),
        ("1234", 2, None, "1200"),
        ("0.121", 2, UP, "0.13"),  # 只进不舍
        ("0.1200", 2, UP, "0.12"),  # nothing non-zero discarded
        ("0.0991", 2, UP, "0.10"),
        ("9.91", 2, UP, "10"),
        ("0.00012", 1, UP, "0.0002"),
    ],
)
def test_round_significant(x: str, digits: int, mode: RoundingMode | None, expected: str) -> None:
    out = round_significant(x, digits, mode or RoundingMode.HALF_EVEN)
    assert format_decimal(out) == expected


def test_floats_are_read_as_their_decimal_text() -> None:
    # The binary double nearest 2.675 is 2.67499999...; the certificate number is 2.675.
    assert format_decimal(round_significant(2.675, 3)) == "2.68"
    assert format_decimal(round_significant(2.665, 3)) == "2.66"
    assert format_decimal(round_to_exponent(-0.04, -1)) == "0.0"  # no "-0.0"
    assert round_to_exponent(Decimal("12.5"), 0) == Decimal(12)
    assert round_to_exponent(Decimal("13.5"), 0) == Decimal(14)


def test_co2_rounding() -> None:
    r = round_result(Q_(5.0, "µmol/mol"), Q_(9.882, "µmol/mol"), k=1.96)
    assert format_decimal(r.value) == "5.0"
    assert format_decimal(r.uncertainty) == "9.9"
    assert str(r) == "5.0 µmol/mol, U = 9.9 µmol/mol (k = 1.96)"
    r2 = round_result(Q_(0.25, "percent_FS"), Q_(0.5041, "percent_FS"), k=2)
    assert r2.value_text == "0.25 %FS"
    assert r2.uncertainty_text == "U = 0.50 %FS (k = 2)"
    r1 = round_result(Q_(5.04, "µmol/mol"), Q_(10.08, "µmol/mol"), digits=1)
    assert format_decimal(r1.uncertainty) == "10"
    assert format_decimal(r1.value) == "10"  # 5.04 to the tens place (0.504 tens) -> 1 ten
    assert format_decimal(round_result(Q_(25, "s"), Q_(14, "s"), digits=1).value) == "20"
    assert format_decimal(round_result(Q_(35, "s"), Q_(14, "s"), digits=1).value) == "40"


def test_result_follows_u_place_and_units() -> None:
    # U expressed in mmol/mol is converted to the value's unit first.
    r = round_result(Q_(1234.5678, "µmol/mol"), Q_(0.01234, "mmol/mol"))
    assert format_decimal(r.uncertainty) == "12"
    assert format_decimal(r.value) == "1235"
    # U rounded up, result still half-even.
    r = round_result(Q_(1.245, "s"), Q_(0.121, "s"), uncertainty_mode=UP)
    assert format_decimal(r.uncertainty) == "0.13"
    assert format_decimal(r.value) == "1.24"
    # A carry in U moves the result's decimal place with it.
    r = round_result(Q_(3.14159, "s"), Q_(0.0996, "s"))
    assert format_decimal(r.uncertainty) == "0.10"
    assert format_decimal(r.value) == "3.14"
    assert round_uncertainty(Q_(0.0996, "s")) == Decimal("0.10")


def test_bad_rounding_inputs() -> None:
    with pytest.raises(CalcError, match="must be positive"):
        round_uncertainty(Q_(0, "s"))
    with pytest.raises(CalcError, match="not of the same kind"):
        round_result(Q_(1, "s"), Q_(1, "m"))
    with pytest.raises(CalcError, match="positive integer"):
        round_significant("1.5", 0)
    with pytest.raises(CalcError, match="not a number"):
        round_significant("abc")
    with pytest.raises(CalcError, match="finite"):
        round_significant(float("nan"))
