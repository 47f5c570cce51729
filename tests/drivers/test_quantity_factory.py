"""Readings are genuine Quantities of the current application registry, however built."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pint
import pytest

from drivers.instruments.base import quantity
from drivers.instruments.scpi import ScpiGasAnalyzer
from drivers.quantity_factory import QuantityFactory, factory_for
from drivers.transport import ScriptedTransport


@pytest.fixture
def app_registry() -> Iterator[Any]:
    """The application registry in force, restored after the test whatever it installs."""
    registry = pint.get_application_registry().get()  # type: ignore[no-untyped-call]
    yield registry
    pint.set_application_registry(registry)  # type: ignore[no-untyped-call]


def test_reading_equals_pint_constructor_result(app_registry: Any) -> None:
    q = quantity(1004.5, "umol/mol")
    reference = app_registry.Quantity(1004.5, app_registry.Unit("umol/mol"))
    assert type(q) is app_registry.Quantity
    assert vars(q) == vars(reference)
    assert q == reference
    assert q.magnitude == 1004.5
    assert q.units == app_registry.Unit("umol/mol")
    # 1004.5 µmol/mol = 1004.5e-6 mol/mol
    assert q.to("mol/mol").magnitude == pytest.approx(1004.5e-6, rel=1e-12)
    assert (q + app_registry.Quantity(0.5, "umol/mol")).magnitude == pytest.approx(1005.0)


def test_shortcut_is_checked_and_used_on_this_pint(app_registry: Any) -> None:
    assert factory_for(app_registry, "umol/mol").uses_shortcut


def test_integer_counts_stay_integers(app_registry: Any) -> None:
    q = quantity(1254, "count")
    assert type(q.magnitude) is int
    assert q == app_registry.Quantity(1254, "count")


def test_offset_unit(app_registry: Any) -> None:
    q = quantity(21.5, "degC")
    assert q.to("K").magnitude == pytest.approx(21.5 + 273.15)


def test_other_magnitudes_go_through_pint(app_registry: Any) -> None:
    from fractions import Fraction

    q = quantity(Fraction(1, 4), "kWh")  # type: ignore[arg-type]
    assert q == app_registry.Quantity(Fraction(1, 4), "kWh")
    with pytest.raises(TypeError):  # pint refuses a bool magnitude; so do we
        quantity(True, "kWh")


def test_registry_installed_later_is_honoured(app_registry: Any) -> None:
    other: Any = pint.UnitRegistry()
    pint.set_application_registry(other)  # type: ignore[no-untyped-call]
    t = ScriptedTransport([("MEAS:CONC?", "+4.012E+02")])
    q = ScpiGasAnalyzer(t, name="co2").read_concentration()
    assert type(q) is other.Quantity
    assert q == other.Quantity(401.2, "umol/mol")
    assert q + other.Quantity(1, "umol/mol") == other.Quantity(402.2, "umol/mol")


def test_force_ndarray_registry_falls_back_to_pint() -> None:
    np = pytest.importorskip("numpy")
    registry: Any = pint.UnitRegistry(force_ndarray=True)
    factory = QuantityFactory(registry, "kPa")
    assert not factory.uses_shortcut
    q = factory(101.3)
    assert isinstance(q.magnitude, np.ndarray)
    assert q.to("Pa").magnitude == pytest.approx(101300.0)
