"""The lab registry's currency (yuan) and relative-humidity percent (%RH)."""

from __future__ import annotations

import pytest

from lims.units import (
    UnitParseError,
    canonical_unit,
    check_dimension,
    from_storage,
    parse_quantity,
    parse_unit,
    to_storage,
    ureg,
)


@pytest.mark.parametrize("typed", ["yuan", "CNY", "RMB", "元"])
def test_yuan_spellings_are_one_unit(typed: str) -> None:
    q = parse_quantity(f"12.34 {typed}")
    assert to_storage(q) == (12.34, "yuan")
    assert f"{q:~P}" == "12.34 CNY"


def test_yuan_is_its_own_dimension() -> None:
    q = parse_quantity("5 元")
    assert q.dimensionality == {"[currency]": 1}
    # money is never a pure number, a percent or an energy
    for other in ("dimensionless", "percent", "kWh"):
        with pytest.raises(UnitParseError, match="wrong dimension"):
            check_dimension(q, other)
    with pytest.raises(UnitParseError, match="missing unit"):
        parse_quantity("5", like="yuan")


def test_tariff_times_energy_is_an_amount() -> None:
    tariff = parse_quantity("1.20 元/kWh", like="yuan/kWh")
    assert canonical_unit(tariff.units) == "yuan / kilowatt_hour"
    assert f"{tariff.units:~P}" == "CNY/kWh"
    amount = (tariff * parse_quantity("2.5 kW·h")).to("yuan")
    assert amount.magnitude == pytest.approx(1.20 * 2.5)
    # per megawatt hour: 1.20 yuan/kWh = 1200 yuan/MWh
    assert tariff.to("CNY/MWh").magnitude == pytest.approx(1200.0)


def test_yuan_round_trips_through_storage() -> None:
    for text in ("0.01 yuan", "1.65 yuan/kWh", "1e6 CNY"):
        q = parse_quantity(text)
        back = from_storage(*to_storage(q))
        assert back == q
        assert back.units == q.units


@pytest.mark.parametrize("typed", ["%RH", "% RH", "%rh", "％RH"])
def test_percent_rh_is_relative_humidity_not_ronnahenry(typed: str) -> None:
    q = parse_quantity(f"55 {typed}")
    assert to_storage(q) == (55.0, "percent_RH")
    assert f"{q:~P}" == "55.0 %RH"
    # a ratio in percent: 55 %RH is 0.55, comparable with the tables' humidity in percent
    assert q.dimensionality == ureg.dimensionless.dimensionality
    assert q.to("percent").magnitude == pytest.approx(55.0)
    assert q < parse_quantity("80 percent")
    # what pint alone made of it: percent × ronnahenry, an inductance
    assert not parse_unit(typed).dimensionality.get("[current]")


def test_percent_rh_refused_where_a_unit_of_another_dimension_is_expected() -> None:
    with pytest.raises(UnitParseError, match="wrong dimension"):
        parse_quantity("55 %RH", like="degC")
