"""One determination (burn) of an oxygen-bomb calorimeter, recorded reading by reading.

A burn: the operator presses a pellet of the substance and lays it on the analytical
balance (the lab's standard), the stable mass is read; the operator enters the ignition
heat (fuse wire and cotton thread) with its unit; the calorimeter is told the sample and
fired; the run polls its state until the determination is done, then reads its result
with the whole temperature-rise curve. Recorded, all under the test point
``<point>.<n>``:

* ``bomb.pellet_mass`` (balance), ``bomb.ignition_heat`` (operator);
* ``env.temperature`` and ``bomb.jacket_temperature`` before the burn and after it;
* the curve: ``bomb.curve_time`` and ``bomb.temperature`` per logged reading,
  ``bomb.fire_time`` and ``bomb.end_time`` (ignition, end of the main period);
* the corrections the method needs, computed here from the curve by Regnault–Pfaundler
  (:func:`lims.calc.corrected_temperature_rise`): ``bomb.fore_rate``, ``bomb.after_rate``,
  ``bomb.cooling_correction``, ``bomb.corrected_rise``;
* what the instrument reports: ``bomb.instrument_rise``, ``bomb.gross_calorific_value``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from drivers.roles import Balance, BombCalorimeter, EnvironmentMonitor
from lims.calc.calorimetry import CorrectedRise, corrected_temperature_rise
from lims.engine import RecordedReading, StepContext
from lims.units import display_quantity, ureg

__all__ = ["Burn", "burn"]

POLL = ureg.Quantity(1.0, "min")


@dataclass(frozen=True)
class Burn:
    """One finished determination: what was weighed and entered, what the curve gave."""

    test_point: str
    mass: RecordedReading
    ignition: RecordedReading
    rise: CorrectedRise
    rise_reading: RecordedReading
    indication: RecordedReading
    """The instrument's gross calorific value (J/g)."""
    readings: tuple[RecordedReading, ...]
    ambient_change: Any
    """|room temperature after − before| during the burn (K)."""


def burn(
    ctx: StepContext,
    test_point: str,
    *,
    load_key: str,
    substance_zh: str,
    substance_en: str,
) -> Burn:
    """Weigh, enter, fire, wait and read one determination (see the module doc)."""
    table = ctx.table
    cal = ctx.instrument(BombCalorimeter, "calorimeter")
    balance = ctx.instrument(Balance, "balance")
    env = ctx.instrument(EnvironmentMonitor, "env")
    taken: list[RecordedReading] = []

    def take(quantity: str, value: Any, source: str) -> RecordedReading:
        rec = ctx.take_reading(quantity, value, source=source, test_point=test_point)
        taken.append(rec)
        return rec

    ctx.confirm(
        load_key,
        f"压制{substance_zh}片约 1 g，置于分析天平秤盘上",
        f"Press a pellet of about 1 g of {substance_en} and lay it on the analytical balance",
    )
    mass = take("bomb.pellet_mass", balance.read_mass(), "balance")
    lo, hi = table.limit("pellet_mass_min"), table.limit("pellet_mass_max")
    if not lo <= mass.value <= hi:
        raise ValueError(
            f"{test_point}: 片重 pellet mass {display_quantity(mass.value, '.5g')} is outside "
            f"{display_quantity(lo, 'g')} … {display_quantity(hi, 'g')} (table limits)"
        )
    ctx.enter_value(
        "bomb.ignition_heat",
        "输入点火丝与棉线的点火热（含单位）",
        "Enter the ignition heat of the fuse wire and cotton thread (with its unit)",
        like="J",
        plausible=(ureg.Quantity(0.0, "J"), ureg.Quantity(500.0, "J")),
        test_point=test_point,
    )
    ignition = ctx.taken[-1]
    taken.append(ignition)
    before = take("env.temperature", env.read_temperature(), "env")
    take("bomb.jacket_temperature", cal.read_jacket_temperature(), "calorimeter")
    cal.load_sample(test_point.replace(".", "-"), mass.value, ignition.value)
    cal.fire()
    started = ctx.now()
    timeout = table.limit("settle_timeout")
    while True:
        ctx.wait(POLL)
        state = cal.state()
        if state == "done":
            break
        if state == "fault":
            raise RuntimeError(f"{test_point}: 热量计报告故障 the calorimeter reports a fault")
        if ctx.now() - started > timeout:
            raise TimeoutError(
                f"{test_point}: 测定未在 {display_quantity(timeout, 'g')} 内完成 the "
                f"determination did not finish within {display_quantity(timeout, 'g')}"
            )
    result = cal.read_result()
    after = take("env.temperature", env.read_temperature(), "env")
    take("bomb.jacket_temperature", cal.read_jacket_temperature(), "calorimeter")
    times = [t for t, _ in result.curve]
    temps = [v for _, v in result.curve]
    for t, v in result.curve:
        take("bomb.curve_time", t, "calorimeter")
        take("bomb.temperature", v, "calorimeter")
    take("bomb.fire_time", times[result.fire_index], "calorimeter")
    take("bomb.end_time", times[result.end_index], "calorimeter")
    rise = corrected_temperature_rise(times, temps, result.fire_index, result.end_index)
    take("bomb.fore_rate", rise.fore_rate, "procedure")
    take("bomb.after_rate", rise.after_rate, "procedure")
    take("bomb.cooling_correction", rise.correction, "procedure")
    rise_reading = take("bomb.corrected_rise", rise.rise, "procedure")
    take("bomb.instrument_rise", result.corrected_rise, "calorimeter")
    indication = take("bomb.gross_calorific_value", result.gross_calorific_value, "calorimeter")
    change = abs(after.value.to("degC").magnitude - before.value.to("degC").magnitude)
    return Burn(
        test_point=test_point,
        mass=mass,
        ignition=ignition,
        rise=rise,
        rise_reading=rise_reading,
        indication=indication,
        readings=tuple(taken),
        ambient_change=ureg.Quantity(change, "K"),
    )
