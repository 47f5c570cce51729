"""Units as people type them, clear refusals, canonical storage; property-based tests."""

from __future__ import annotations

import contextlib
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lims.units import (
    UnitParseError,
    canonical_unit,
    from_storage,
    parse_quantity,
    parse_unit,
    to_storage,
    ureg,
)

LAB_UNITS = [
    "umol/mol",
    "μmol/mol",
    "µmol/mol",
    "ppm",
    "kW·h",
    "kWh",
    "%vol",
    "%FS",
    "m³/h",
    "Nm³/h",
    "mg/m³",
    "L/min",
    "℃",
    "MPa",
    "kPa",
    "g",
    "mg",
    "V",
    "A",
    "s",
    "%",
]


@pytest.mark.parametrize("typed", ["umol/mol", "μmol/mol", "µmol/mol", "umol / mol"])
def test_micromole_per_mole_spellings(typed: str) -> None:
    q = parse_quantity(f"400 {typed}")
    assert to_storage(q) == (400.0, "micromole / mole")
    assert q.to("dimensionless").magnitude == pytest.approx(400e-6, rel=1e-12)


@pytest.mark.parametrize(
    ("text", "target", "expected"),
    [
        ("400 ppm", "umol/mol", 400.0),  # 1 ppm = 1 µmol/mol (amount fraction)
        ("3.5 kW·h", "J", 3.5 * 1000 * 3600),
        ("3.5 kWh", "J", 3.5 * 1000 * 3600),
        ("5 %vol", "dimensionless", 0.05),
        ("12 m³/h", "m**3/s", 12 / 3600),
        ("40 mg/m³", "kg/m**3", 40e-6),
        ("60 L/min", "m**3/s", 60e-3 / 60),
        ("20 ℃", "K", 293.15),
        ("20 °C", "K", 293.15),
        ("2 Nm³/h", "NL/min", 2 * 1000 / 60),
    ],
)
def test_lab_units_convert_to_their_definition(text: str, target: str, expected: float) -> None:
    assert parse_quantity(text).to(target).magnitude == pytest.approx(expected, rel=1e-12)


def test_fiducial_percent_and_normal_volume_are_their_own_dimensions() -> None:
    fs = parse_quantity("2 %FS")
    assert fs.dimensionality != ureg.percent.dimensionality
    with pytest.raises(UnitParseError, match="wrong dimension"):
        parse_quantity("2 %FS", "%")
    with pytest.raises(UnitParseError, match="wrong dimension"):
        parse_quantity("2 Nm³/h", "m³/h")


@pytest.mark.parametrize("text", ["5 kilofoo", "5 umol/kilofoo", "3 mol/", "7 )("])
def test_unknown_or_malformed_unit_is_named(text: str) -> None:
    with pytest.raises(UnitParseError) as exc:
        parse_quantity(text)
    assert repr(text.split(" ", 1)[1]) in str(exc.value)


def test_wrong_dimension_names_input_and_expected_unit() -> None:
    with pytest.raises(UnitParseError) as exc:
        parse_quantity("5 kWh", "MPa")
    msg = str(exc.value)
    assert "5 kWh" in msg
    assert "wrong dimension" in msg
    assert "MPa" in msg


def test_bare_number_is_refused_where_a_unit_is_expected() -> None:
    with pytest.raises(UnitParseError, match="missing unit"):
        parse_quantity("400", "umol/mol")
    assert parse_quantity("0.5").dimensionless


@pytest.mark.parametrize("bad", ["", "   ", "abc", "1e999 m", "nan m", "inf s"])
def test_not_a_quantity(bad: str) -> None:
    with pytest.raises(UnitParseError):
        parse_quantity(bad)


@pytest.mark.parametrize("typed", LAB_UNITS)
def test_canonical_unit_round_trips(typed: str) -> None:
    unit = parse_unit(typed)
    stored = canonical_unit(unit)
    assert parse_unit(stored) == unit
    assert canonical_unit(parse_unit(stored)) == stored


finite = st.floats(allow_nan=False, allow_infinity=False)


@settings(max_examples=300, deadline=None)
@given(value=finite, typed=st.sampled_from(LAB_UNITS))
def test_storage_round_trip_is_exact(value: float, typed: str) -> None:
    q = ureg.Quantity(value, parse_unit(typed))
    magnitude, unit = to_storage(q)
    back = from_storage(magnitude, unit)
    assert back.units == q.units
    assert back.magnitude == value or (value == 0 and back.magnitude == 0)
    assert math.copysign(1, back.magnitude) == math.copysign(1, value)


@settings(max_examples=300, deadline=None)
@given(value=finite, typed=st.sampled_from(LAB_UNITS))
def test_format_then_parse_gives_the_quantity_back(value: float, typed: str) -> None:
    q = ureg.Quantity(value, parse_unit(typed))
    # The number as Python writes it (pint's pretty "1×10¹⁶" is for display only), the unit
    # as typed, in pint's short pretty form and in the canonical storage form.
    texts = (
        f"{value!r} {typed}",
        f"{value!r} {q.units:~P}",
        f"{value!r} {canonical_unit(q.units)}",
    )
    for text in texts:
        back = parse_quantity(text)
        assert back.units == q.units, text
        assert back.magnitude == value, text


@settings(max_examples=500, deadline=None)
@given(text=st.text(max_size=30))
def test_arbitrary_text_raises_only_unit_parse_error(text: str) -> None:
    try:
        q = parse_quantity(text)
    except UnitParseError:
        return
    assert math.isfinite(q.magnitude)


@settings(max_examples=300, deadline=None)
@given(number=finite, unit=st.text(max_size=12))
def test_number_with_arbitrary_unit_text_raises_only_unit_parse_error(
    number: float, unit: str
) -> None:
    with contextlib.suppress(UnitParseError):
        parse_quantity(f"{number!r} {unit}", "umol/mol")
