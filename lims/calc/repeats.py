"""Statistics of repeated readings: mean, sample standard deviation, Type A uncertainty.

For n readings x_1…x_n (GUM 4.2, JJF 1059.1-2012):

* mean x̄ = Σ x_i / n
* sample standard deviation s = √( Σ (x_i − x̄)² / (n − 1) )  (Bessel)
* Type A standard uncertainty of the mean u_A = s / √n, with ν = n − 1 degrees of freedom.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Any

from lims.calc._common import CalcError, magnitudes
from lims.units import ureg

__all__ = ["RepeatStatistics", "mean", "repeat_statistics", "sample_std"]


@dataclass(frozen=True)
class RepeatStatistics:
    """Summary of n repeated readings, all quantities in the unit of the first reading."""

    n: int
    mean: Any
    std: Any
    """Sample standard deviation s (n − 1 in the denominator)."""
    u_mean: Any
    """Type A standard uncertainty of the mean, s/√n."""
    dof: int
    """Degrees of freedom of ``u_mean``, n − 1."""


def mean(readings: Any) -> Any:
    """Arithmetic mean of a sequence of quantities (in the unit of the first one)."""
    values, unit = magnitudes(readings, "readings")
    return ureg.Quantity(statistics.fmean(values), unit)


def sample_std(readings: Any) -> Any:
    """Sample standard deviation s of at least two readings."""
    values, unit = magnitudes(readings, "readings")
    if len(values) < 2:
        raise CalcError("readings: a standard deviation needs at least 2 readings")
    return ureg.Quantity(statistics.stdev(values), unit)


def repeat_statistics(readings: Any) -> RepeatStatistics:
    """Mean, s, u_A = s/√n and ν = n − 1 of at least two readings."""
    values, unit = magnitudes(readings, "readings")
    n = len(values)
    if n < 2:
        raise CalcError("readings: Type A evaluation needs at least 2 readings")
    s = statistics.stdev(values)
    return RepeatStatistics(
        n=n,
        mean=ureg.Quantity(statistics.fmean(values), unit),
        std=ureg.Quantity(s, unit),
        u_mean=ureg.Quantity(s / math.sqrt(n), unit),
        dof=n - 1,
    )
