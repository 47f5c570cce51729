"""Repeatability as the regulations define it.

* Gas analyzers (JJG 635) and elemental analyzers (JJF 1321, RSD): relative
  standard deviation of n repeated readings of the same standard,

      s_r = s / x̄ × 100 %,   s = √( Σ (x_i − x̄)² / (n − 1) ).

* Gas flowmeters (JJG 1037 and the other flowmeter regulations): standard
  deviation of the relative errors of the n repeats at one flow point,

      E_i = (x_i − x_s,i) / x_s,i × 100 %,   E_r = √( Σ (E_i − Ē)² / (n − 1) ),

  where each repeat may have its own reference value x_s,i.
"""

from __future__ import annotations

import statistics
from typing import Any

import pint

from lims.calc._common import CalcError, magnitudes
from lims.units import ureg

__all__ = ["relative_standard_deviation", "repeatability_of_relative_errors"]


def relative_standard_deviation(readings: Any) -> Any:
    """RSD s/x̄ in percent of at least two readings (JJG 635 repeatability; RSD)."""
    values, _unit = magnitudes(readings, "readings")
    if len(values) < 2:
        raise CalcError("readings: repeatability needs at least 2 readings")
    m = statistics.fmean(values)
    if m == 0:
        raise CalcError("readings: the mean is zero, a relative standard deviation is undefined")
    return ureg.Quantity(statistics.stdev(values) / abs(m) * 100.0, "percent")


def repeatability_of_relative_errors(indications: Any, references: Any) -> Any:
    """Standard deviation of the relative errors of the repeats, in percent (JJG 1037).

    ``references`` is one reference quantity for all repeats or a sequence with
    one reference per repeat.
    """
    ind, unit = magnitudes(indications, "indications")
    if len(ind) < 2:
        raise CalcError("indications: repeatability needs at least 2 repeats")
    if isinstance(references, list | tuple) or (
        isinstance(references, pint.Quantity) and not isinstance(references.magnitude, int | float)
    ):
        refs, _ = magnitudes(references, "references", unit=unit)
        if len(refs) != len(ind):
            raise CalcError(f"references: {len(refs)} reference values for {len(ind)} indications")
    else:
        refs, _ = magnitudes([references], "reference", unit=unit)
        refs = refs * len(ind)
    for i, r in enumerate(refs, start=1):
        if r == 0:
            raise CalcError(f"references item {i}: zero reference, relative error undefined")
    rel = [(x - r) / r * 100.0 for x, r in zip(ind, refs, strict=True)]
    return ureg.Quantity(statistics.stdev(rel), "percent")
