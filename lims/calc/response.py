"""Response time T90 from a recorded step response.

T90 is the time from the moment the gas is switched (the step start) until the
reading reaches, and thereafter stays past, 90 % of the final change
(JJG 635; OIML R 144 measures it on a span step). With initial reading y_0
(before the switch) and final reading y_∞, the threshold is

    y_90 = y_0 + 0.90 · (y_∞ − y_0).

The crossing time is found on the record itself: after the last sample that is
not yet past y_90, linear interpolation between it and the next sample gives
the instant the threshold is crossed. The same is done for 10 %, so the
10 %→90 % rise time is available too. Rising and falling steps are both handled.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from lims.calc._common import CalcError, magnitudes, require_quantity, same_dimension
from lims.units import ureg

__all__ = ["ResponseTime", "response_time"]


@dataclass(frozen=True)
class ResponseTime:
    """Result of a step-response analysis; times are counted from the step start."""

    t90: Any
    """Time from the step start until the reading stays past 90 % of the change."""
    t10: Any
    """Time from the step start until the reading stays past 10 % of the change."""
    initial: Any
    final: Any

    @property
    def rise_time(self) -> Any:
        """10 % → 90 % time, t90 − t10."""
        return self.t90 - self.t10


def _crossing(
    times: list[float], values: list[float], t0: float, y0: float, threshold: float, sign: float
) -> float:
    past = [(v - threshold) * sign >= 0 for v in values]
    if not past[-1]:
        raise CalcError("step response: the reading does not stay past the threshold at the end")
    last_not_past = max((i for i, p in enumerate(past) if not p), default=-1)
    if last_not_past == -1:
        # Already past at the first sample after the switch: interpolate from the switch.
        ta, ya = t0, y0
    else:
        ta, ya = times[last_not_past], values[last_not_past]
    tb, yb = times[last_not_past + 1], values[last_not_past + 1]
    return ta + (threshold - ya) / (yb - ya) * (tb - ta)


def response_time(
    samples: Sequence[tuple[Any, Any]],
    step_time: Any,
    *,
    initial: Any = None,
    final: Any = None,
    final_samples: int = 5,
) -> ResponseTime:
    """Analyse a step response given as ``(time, value)`` pairs in increasing time.

    ``initial`` defaults to the mean of the readings taken at or before
    ``step_time``; ``final`` to the mean of the last ``final_samples`` readings
    (the record must end in the settled state).
    """
    if not isinstance(samples, Sequence) or len(samples) < 2:
        raise CalcError("step response: at least 2 (time, value) samples are needed")
    for i, pair in enumerate(samples, start=1):
        if not isinstance(pair, tuple | list) or len(pair) != 2:
            raise CalcError(f"step response sample {i}: expected a (time, value) pair")
    step_time = require_quantity(step_time, "step time")
    if step_time.dimensionality != ureg.Quantity(1, "s").dimensionality:
        raise CalcError(f"step time ({step_time:~P}) is not a time")
    times, _ = magnitudes([p[0] for p in samples], "step response times", unit="s")
    values, vunit = magnitudes([p[1] for p in samples], "step response values")
    for i in range(1, len(times)):
        if times[i] <= times[i - 1]:
            raise CalcError(f"step response sample {i + 1}: times must increase strictly")
    t0 = float(step_time.to("s").magnitude)
    before = [v for t, v in zip(times, values, strict=True) if t <= t0]
    after = [(t, v) for t, v in zip(times, values, strict=True) if t > t0]
    if not after:
        raise CalcError("step response: no samples after the step time")
    if initial is None:
        if not before:
            raise CalcError("step response: no sample at or before the step; give 'initial'")
        y0 = statistics.fmean(before)
    else:
        y0 = float(
            same_dimension(
                require_quantity(initial, "initial"),
                ureg.Quantity(1, vunit),
                "initial",
                "the readings",
            ).magnitude
        )
    if final is None:
        if final_samples < 1 or final_samples > len(after):
            raise CalcError(
                f"final_samples: must be between 1 and {len(after)} (samples after the step)"
            )
        y_end = statistics.fmean(v for _, v in after[-final_samples:])
    else:
        y_end = float(
            same_dimension(
                require_quantity(final, "final"), ureg.Quantity(1, vunit), "final", "the readings"
            ).magnitude
        )
    change = y_end - y0
    if change == 0:
        raise CalcError("step response: the final reading equals the initial one (no step)")
    sign = 1.0 if change > 0 else -1.0
    at = [t for t, _ in after]
    av = [v for _, v in after]
    t90 = _crossing(at, av, t0, y0, y0 + 0.9 * change, sign) - t0
    t10 = _crossing(at, av, t0, y0, y0 + 0.1 * change, sign) - t0
    return ResponseTime(
        t90=ureg.Quantity(t90, "s"),
        t10=ureg.Quantity(t10, "s"),
        initial=ureg.Quantity(y0, vunit),
        final=ureg.Quantity(y_end, vunit),
    )
