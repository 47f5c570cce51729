"""Oxygen-bomb calorimetry (JJG 672, with GB/T 213 for the method).

* :func:`corrected_temperature_rise` — the rise of an isothermal determination with the
  Regnault–Pfaundler cooling correction: readings every Δτ, the fore period ending at
  ignition (index 0…f), the main period f…e, the after period e…end. Cooling rates (fall
  per interval) V0 = (t_0' − t_f)/m0 over the fore period and Vn = (t_e − t_end)/mn over
  the after period, at their mean temperatures θ0, θn; with n = e − f intervals in the
  main period,

      C = n·V0 + (Vn − V0)/(θn − θ0) · (Σ_{i=f+1}^{e−1} t_i + (t_f + t_e)/2 − n·θ0)
      Δt = t_e − t_f + C.

  Exact for Newtonian exchange (the drift rate linear in the temperature) up to the
  trapezoid rule over the main period.
* :func:`energy_equivalent` — E = (Q·m·(1 + f) + q_ign) / Δt from a benzoic-acid burn:
  Q the CRM's certified specific energy, m its mass, f the nitric-acid formation heat
  as a fraction of the combustion heat, q_ign the ignition heat (fuse and cotton).
* :func:`gross_calorific_value` — Q = (E·Δt − q_ign) / (m·(1 + f)), the inverse.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from lims.calc._common import CalcError, magnitudes, require_quantity
from lims.units import ureg

__all__ = [
    "CorrectedRise",
    "corrected_temperature_rise",
    "energy_equivalent",
    "gross_calorific_value",
]


@dataclass(frozen=True)
class CorrectedRise:
    """The corrected temperature rise and how it was obtained (Quantities)."""

    rise: Any
    """Δt = t_e − t_f + C (K)."""
    correction: Any
    """Cooling correction C (K)."""
    fore_rate: Any
    """V0: temperature fall per minute in the fore period (K/min)."""
    after_rate: Any
    """Vn: temperature fall per minute in the after period (K/min)."""
    main_intervals: int


def _kelvin(values: Any, what: str) -> list[float]:
    mags, unit = magnitudes(values, what)
    q = ureg.Quantity(1.0, unit)
    if q.dimensionality != ureg.Quantity(1.0, "K").dimensionality:
        raise CalcError(f"{what}: expected temperatures, got {unit}")
    return [float(ureg.Quantity(m, unit).to("K").magnitude) for m in mags]


def corrected_temperature_rise(
    times: Sequence[Any], temperatures: Sequence[Any], fire_index: int, end_index: int
) -> CorrectedRise:
    """The Regnault–Pfaundler corrected rise of a determination (see module doc).

    ``times`` must be equally spaced; the fore and after periods need at least two
    readings each. Raises :class:`CalcError` naming what is wrong.
    """
    secs, _ = magnitudes(times, "reading times", unit="s")
    temps = _kelvin(temperatures, "temperatures")
    if len(secs) != len(temps):
        raise CalcError(f"{len(secs)} reading times for {len(temps)} temperatures")
    if not 1 <= fire_index < end_index < len(temps) - 1:
        raise CalcError(
            f"ignition at reading {fire_index} and end of main period at {end_index} do not "
            f"leave a fore and an after period in {len(temps)} readings"
        )
    step = secs[1] - secs[0]
    if step <= 0 or any(abs((b - a) - step) > 1e-6 * step for a, b in itertools.pairwise(secs)):
        raise CalcError("reading times: not equally spaced")
    fore, after = temps[: fire_index + 1], temps[end_index:]
    v0 = (fore[0] - fore[-1]) / (len(fore) - 1)
    vn = (after[0] - after[-1]) / (len(after) - 1)
    theta0, thetan = sum(fore) / len(fore), sum(after) / len(after)
    if thetan == theta0:
        raise CalcError("fore and after periods at the same mean temperature: no rise")
    n = end_index - fire_index
    t_f, t_e = temps[fire_index], temps[end_index]
    inner = sum(temps[fire_index + 1 : end_index])
    correction = n * v0 + (vn - v0) / (thetan - theta0) * (inner + (t_f + t_e) / 2 - n * theta0)
    per_minute = 60.0 / step
    return CorrectedRise(
        rise=ureg.Quantity(t_e - t_f + correction, "K"),
        correction=ureg.Quantity(correction, "K"),
        fore_rate=ureg.Quantity(v0 * per_minute, "K/min"),
        after_rate=ureg.Quantity(vn * per_minute, "K/min"),
        main_intervals=n,
    )


def _checked(value: Any, unit: str, what: str, *, positive: bool = True) -> float:
    q = require_quantity(value, what)
    try:
        x = float(q.to(unit).magnitude)
    except Exception as exc:  # pint dimensionality errors
        raise CalcError(f"{what}: expected a quantity in {unit}, got {q:~P}") from exc
    if positive and x <= 0:
        raise CalcError(f"{what}: must be positive, got {q:~P}")
    if not positive and x < 0:
        raise CalcError(f"{what}: must not be negative, got {q:~P}")
    return x


def energy_equivalent(
    certified_value: Any, mass: Any, ignition_heat: Any, rise: Any, acid_fraction: Any
) -> Any:
    """E = (Q·m·(1 + f) + q_ign) / Δt, in J/K."""
    q = _checked(certified_value, "J/g", "certified specific energy")
    m = _checked(mass, "g", "sample mass")
    q_ign = _checked(ignition_heat, "J", "ignition heat", positive=False)
    dt = _checked(rise, "K", "corrected temperature rise")
    f = _checked(acid_fraction, "", "acid fraction", positive=False)
    return ureg.Quantity((q * m * (1 + f) + q_ign) / dt, "J/K")


def gross_calorific_value(
    energy_equivalent: Any, rise: Any, mass: Any, ignition_heat: Any, acid_fraction: Any
) -> Any:
    """Q = (E·Δt − q_ign) / (m·(1 + f)), in J/g."""
    e = _checked(energy_equivalent, "J/K", "energy equivalent")
    dt = _checked(rise, "K", "corrected temperature rise")
    m = _checked(mass, "g", "sample mass")
    q_ign = _checked(ignition_heat, "J", "ignition heat", positive=False)
    f = _checked(acid_fraction, "", "acid fraction", positive=False)
    return ureg.Quantity((e * dt - q_ign) / (m * (1 + f)), "J/g")
