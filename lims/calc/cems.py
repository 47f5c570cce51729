"""Continuous emission monitoring (HJ 75-2017 statistics) and CO2 emission rates.

* :func:`relative_accuracy` — paired data sets i = 1…n of the reference method RM_i and the
  CEMS C_i (averaged over the same time): d_i = RM_i − C_i, d̄ their mean, S_d their
  sample standard deviation, the confidence coefficient cc = t(p, n−1)·S_d/√n with the
  two-sided Student quantile (p = 95 %: t_0.975), and

      RA = (|d̄| + |cc|) / RM̄ × 100 %.

* :func:`emission_rate` — CO2 mass emission rate from the dry volume fraction φ and the
  dry standard flow Q_sd (273.15 K, 101.325 kPa): ρ = φ·M(CO2)/V_m,
  E = ρ·Q_sd, in t/h, with the uncertainty of φ and Q_sd propagated by GTC
  (first-order, Welch–Satterthwaite degrees of freedom, k from t_p(ν_eff) or fixed).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import GTC
from GTC import reporting

from lims.calc._common import CalcError, magnitudes, require_quantity
from lims.units import ureg

__all__ = [
    "CO2_MOLAR_MASS",
    "MOLAR_VOLUME_STP",
    "EmissionRate",
    "RelativeAccuracy",
    "emission_rate",
    "relative_accuracy",
]

CO2_MOLAR_MASS = ureg.Quantity(44.0095, "g/mol")
"""IUPAC molar mass of CO2."""
MOLAR_VOLUME_STP = ureg.Quantity(22.414, "L/mol")
"""Ideal-gas molar volume at 273.15 K and 101.325 kPa (HJ standard state)."""


@dataclass(frozen=True)
class RelativeAccuracy:
    """The relative-accuracy statistic of paired data sets (Quantities where they have units)."""

    n: int
    mean_reference: Any
    mean_difference: Any
    """d̄ = mean(RM − CEMS)."""
    sd_difference: Any
    t_value: float
    confidence_coefficient: Any
    relative_accuracy: Any
    """RA in percent."""


def relative_accuracy(
    reference: Sequence[Any], measured: Sequence[Any], confidence: float = 0.95
) -> RelativeAccuracy:
    """RA of a CEMS against the reference method (see module doc).

    ``reference`` and ``measured`` are paired Quantities of one kind (at least 3 pairs;
    HJ 75 asks for 9 or more). Raises :class:`CalcError` naming what is wrong.
    """
    rm, unit = magnitudes(reference, "reference-method values")
    cems, _ = magnitudes(measured, "CEMS values", unit=unit)
    if len(rm) != len(cems):
        raise CalcError(f"{len(rm)} reference values but {len(cems)} CEMS values: pair them")
    n = len(rm)
    if n < 3:
        raise CalcError(f"relative accuracy needs at least 3 paired data sets, got {n}")
    if not 0 < confidence < 1:
        raise CalcError(f"confidence level must be between 0 and 1, got {confidence}")
    d = [r - c for r, c in zip(rm, cems, strict=True)]
    mean_d = sum(d) / n
    sd = math.sqrt(sum((x - mean_d) ** 2 for x in d) / (n - 1))
    mean_rm = sum(rm) / n
    if mean_rm == 0:
        raise CalcError("reference-method mean is zero: relative accuracy undefined")
    t = float(reporting.k_factor(n - 1, 100 * confidence))
    cc = t * sd / math.sqrt(n)
    ra = (abs(mean_d) + abs(cc)) / abs(mean_rm) * 100.0
    q = ureg.Quantity
    return RelativeAccuracy(
        n=n,
        mean_reference=q(mean_rm, unit),
        mean_difference=q(mean_d, unit),
        sd_difference=q(sd, unit),
        t_value=t,
        confidence_coefficient=q(cc, unit),
        relative_accuracy=q(ra, "percent"),
    )


@dataclass(frozen=True)
class EmissionRate:
    """A CO2 emission rate with its uncertainty."""

    value: Any
    """t/h."""
    standard_uncertainty: Any
    dof: float
    k: float
    expanded_uncertainty: Any
    budget: tuple[tuple[str, Any], ...]
    """(input, contribution |c_i·u_i| in t/h), largest first."""


def emission_rate(
    co2_fraction: Any,
    u_co2_fraction: Any,
    standard_dry_flow: Any,
    u_standard_dry_flow: Any,
    *,
    dof_co2: float = math.inf,
    dof_flow: float = math.inf,
    coverage_probability: float | None = None,
    k: float = 2.0,
) -> EmissionRate:
    """E = φ·M(CO2)/V_m·Q_sd in t/h with GTC-propagated uncertainty (see module doc).

    ``co2_fraction`` is a dimensionless Quantity (``%``, ``µmol/mol``), the flow a
    volume per time. With ``coverage_probability`` (e.g. 0.95) the coverage factor is
    t_p(ν_eff); otherwise ``k``.
    """
    phi = require_quantity(co2_fraction, "CO2 volume fraction")
    u_phi = require_quantity(u_co2_fraction, "uncertainty of the CO2 volume fraction")
    flow = require_quantity(standard_dry_flow, "dry standard flow")
    u_flow = require_quantity(u_standard_dry_flow, "uncertainty of the dry standard flow")
    try:
        phi_v = float(phi.to("").magnitude)
        u_phi_v = float(u_phi.to("").magnitude)
        flow_v = float(flow.to("m**3/h").magnitude)
        u_flow_v = float(u_flow.to("m**3/h").magnitude)
    except Exception as exc:  # pint dimensionality errors
        raise CalcError(f"emission rate: {exc}") from exc
    if not 0 < phi_v < 1 or flow_v <= 0 or u_phi_v < 0 or u_flow_v < 0:
        raise CalcError("emission rate: fraction in (0, 1), positive flow, non-negative u")
    density = float((CO2_MOLAR_MASS / MOLAR_VOLUME_STP).to("t/m**3").magnitude)  # per unit φ
    x_phi = GTC.ureal(phi_v, u_phi_v, dof_co2, label="CO2 volume fraction")
    x_flow = GTC.ureal(flow_v, u_flow_v, dof_flow, label="dry standard flow")
    rate = x_phi * density * x_flow
    u = float(GTC.uncertainty(rate))
    nu = float(GTC.dof(rate))
    cover = float(reporting.k_factor(nu, 100 * coverage_probability)) if coverage_probability else k
    budget = tuple(
        (str(c.label), ureg.Quantity(abs(float(c.u)), "t/h"))
        for c in reporting.budget(rate, trim=0)
    )
    q = ureg.Quantity
    return EmissionRate(
        value=q(float(GTC.value(rate)), "t/h"),
        standard_uncertainty=q(u, "t/h"),
        dof=nu,
        k=cover,
        expanded_uncertainty=q(cover * u, "t/h"),
        budget=budget,
    )
