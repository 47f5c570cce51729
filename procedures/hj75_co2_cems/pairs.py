"""Paired data sets of a CEMS against the reference method, and what follows from them.

One pair averages, over the table's ``pair_averaging_time``, the CEMS (CO2 volume fraction,
velocity at its point, dry standard flow) and the reference method at the same time: the
lab's portable NDIR analyzer sampling the same flue gas, and the S-type pitot moved along
the traverse points of the measuring plan (its mean over the points is the duct's mean
velocity). Every sample is recorded as a reading; each pair's means as ``pair.*``
readings of test point ``pair<i>``.

From the pairs: the relative accuracy of CO2 and of the velocity (HJ 75 statistic, see
:func:`lims.calc.cems.relative_accuracy`) and the CO2 emission rate over the test period,
E = φ̄·M(CO2)/V_m·Q̄ (t/h), with its uncertainty propagated by GTC from

* u(φ)² = s(C_i)²/n + d̄²/3 + (u_ref·φ̄)²  — the spread of the pair means (ν = n − 1), the
  mean CEMS − reference difference taken as a rectangular bound, the reference analyzer's
  certificate (u_ref = U/k relative);
* u(Q)² = s(Q_i)²/n + (ē_v·Q̄)²/3 + (u_probe·Q̄)²  — likewise, with ē_v the mean relative
  velocity difference CEMS − reference and u_probe the probe's relative U/2;

each input's degrees of freedom by Welch–Satterthwaite (only the spread is finite).
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Any

from drivers.roles import StackProbe
from lims.engine import RecordedReading, StepContext
from lims.units import ureg

__all__ = ["PairSet", "emission_inputs", "take_pairs"]

#: (reading quantity, role slot, driver method) of one sample
_SAMPLE = (
    ("cems_co2", "analyzer", "read_concentration"),
    ("reference_co2", "reference", "read_concentration"),
    ("cems_velocity", "flow", "read_velocity"),
    ("reference_velocity", "probe", "read_velocity"),
    ("cems_flow", "flow", "read_standard_flow"),
)
_UNITS = {
    "cems_co2": "percent_vol",
    "reference_co2": "percent_vol",
    "cems_velocity": "m/s",
    "reference_velocity": "m/s",
    "cems_flow": "m**3/h",
}


@dataclass(frozen=True)
class PairSet:
    """The pair means, by quantity (``cems_co2`` …), as Quantities in pair order."""

    means: dict[str, list[Any]]
    readings: list[RecordedReading]

    @property
    def n(self) -> int:
        """Number of pairs."""
        return len(self.means["cems_co2"])


def take_pairs(ctx: StepContext, n_pairs: int, n_points: int) -> PairSet:
    """Measure ``n_pairs`` paired data sets, the probe traversing ``n_points`` points each."""
    probe = ctx.instrument(StackProbe, "probe")
    interval = ctx.table.limit("sampling_interval")
    span_s = float(ctx.table.limit("pair_averaging_time").to("s").magnitude)
    per_point = max(1, round(span_s / n_points / float(interval.to("s").magnitude)))
    means: dict[str, list[Any]] = {q: [] for q, _, _ in _SAMPLE}
    used: list[RecordedReading] = []
    for i in range(1, n_pairs + 1):
        tp = f"pair{i}"
        samples: dict[str, list[Any]] = {q: [] for q, _, _ in _SAMPLE}
        for j in range(1, n_points + 1):
            ctx.confirm(
                f"pitot.point_{j}",
                f"第 {i} 组：将皮托管移至第 {j} 测点",
                f"Pair {i}: move the pitot probe to traverse point {j}",
            )
            at = probe.traverse_point()
            if at != j:
                raise RuntimeError(
                    f"参比方法 reference method: the probe reports traverse point {at}, "
                    f"expected {j}"
                )
            for _ in range(per_point):
                for quantity, slot, method in _SAMPLE:
                    rec = ctx.measure(slot, method, f"sample.{quantity}", test_point=tp)
                    samples[quantity].append(rec.value.to(_UNITS[quantity]))
                    used.append(rec)
                ctx.wait(interval)
        for quantity, values in samples.items():
            m = sum(values[1:], values[0]) / len(values)
            used.append(ctx.take_reading(f"pair.{quantity}", m, source="engine", test_point=tp))
            means[quantity].append(m)
    ctx.confirm("pitot.out", "将皮托管移出烟道", "Take the pitot probe out of the duct")
    return PairSet(means, used)


@dataclass(frozen=True)
class EmissionInputs:
    """φ̄ and Q̄ with their standard uncertainties and degrees of freedom."""

    co2: Any
    u_co2: Any
    dof_co2: float
    flow: Any
    u_flow: Any
    dof_flow: float


def _input(values: list[float], bound: float, u_cert: float) -> tuple[float, float, float]:
    n = len(values)
    mean = statistics.fmean(values)
    spread2 = statistics.variance(values) / n if n > 1 else 0.0
    u2 = spread2 + bound**2 / 3 + u_cert**2
    dof = u2**2 / (spread2**2 / (n - 1)) if spread2 > 0 and n > 1 else math.inf
    return mean, math.sqrt(u2), dof


def emission_inputs(pairs: PairSet, reference_u_rel: float, probe_u_rel: float) -> EmissionInputs:
    """The inputs of the emission rate (see the module docstring); ``*_u_rel`` are the
    relative standard uncertainties (U/k, fractions) of the reference analyzer and probe."""
    c = [float(v.to("percent_vol").magnitude) for v in pairs.means["cems_co2"]]
    r = [float(v.to("percent_vol").magnitude) for v in pairs.means["reference_co2"]]
    q = [float(v.to("m**3/h").magnitude) for v in pairs.means["cems_flow"]]
    vc = [float(v.to("m/s").magnitude) for v in pairs.means["cems_velocity"]]
    vr = [float(v.to("m/s").magnitude) for v in pairs.means["reference_velocity"]]
    d_co2 = statistics.fmean(a - b for a, b in zip(r, c, strict=True))
    e_v = statistics.fmean((a - b) / b for a, b in zip(vc, vr, strict=True))
    phi, u_phi, dof_phi = _input(c, d_co2, reference_u_rel * statistics.fmean(c))
    flow, u_flow, dof_flow = _input(q, e_v * statistics.fmean(q), probe_u_rel * statistics.fmean(q))
    return EmissionInputs(
        ureg.Quantity(phi, "percent_vol"),
        ureg.Quantity(u_phi, "percent_vol"),
        dof_phi,
        ureg.Quantity(flow, "m**3/h"),
        ureg.Quantity(u_flow, "m**3/h"),
        dof_flow,
    )
