"""Verification of EV charging piles: the logic JJG 1148-2022 (AC) and JJG 1149-2022 (DC)
share; :mod:`procedures.jjg1148_ac_pile` and :mod:`procedures.jjg1149_dc_charger` declare
only identity, defaults and their regulation tables.

Items: operating (energy) error by the pulse method at the table's currents (the load
sets the current, the verification device integrates the standard energy and counts the
pile's pulses: E = (N/C − E_std)/E_std); display indication error (the operator reads the
pile's energy display before and after a charge); payment-amount error (displayed amount
against tariff × standard energy, amounts in yuan, the tariff in yuan/kWh); clock error
(pile clock against the reference clock).
Verdicts per JJF 1094 with U (k = 2). Imax = rated power / nominal voltage unless
stated; Imin = Imax/10 but not less than 6 A unless stated.

The class, rated power, voltage, pulse constant and tariff are the pile's registered
nameplate data. The energy of the display and payment tests is sized from the class so
that the method can decide: U of each test ≤ its limit/3 (a fixed 2 kWh gives U ≈ 0.35 %
on a class 1 pile, more than a third of its 1 % limit).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

from drivers.roles import ChargingPileTester, ProgrammableLoad
from lims.calc import (
    Coverage,
    Distribution,
    UncertaintyComponent,
    decide,
    mean,
    relative_error,
    type_a_component,
    type_b_half_width,
    uncertainty_budget,
)
from lims.engine import Parameter, Procedure, RecordedReading, Step, StepContext, TestPoint
from lims.results import (
    Characteristic,
    ErrorForm,
    Extra,
    Limit,
    LimitKind,
    Point,
    ResultFlag,
    ResultRecord,
    StoredBudget,
    Uncertainty,
)
from lims.services.planning import ParameterSource, PlanningContext
from lims.units import ureg
from lims.vocabulary import BiText
from procedures import common

__all__ = ["ChargingPileProcedure", "display_test_energy", "parse_clock", "parse_money"]

_MONEY_RE = re.compile(r"^\s*[¥￥]?\s*(\d+(?:\.\d+)?)\s*(元|yuan|CNY|RMB)?\s*$", re.IGNORECASE)


def parse_money(text: str) -> Any:
    """An amount of money as read off a pile's display, in yuan: ``12.34``, ``12.34 元``,
    ``¥12.34``, ``12.34 CNY``. A pile shows amounts in yuan, so a bare number is yuan."""
    m = _MONEY_RE.match(text)
    if m is None:
        raise ValueError(f"{text!r} is not an amount in yuan (e.g. 12.34 元)")
    value = float(m[1])
    if value > 1e7:
        raise ValueError(f"{value:g} 元 is not a plausible payment amount")
    return ureg.Quantity(value, "yuan")


def parse_clock(text: str) -> datetime:
    """A date and time as read off a clock, ISO form ``2026-01-10 08:00:05``."""
    try:
        return datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{text!r} is not a date and time like 2026-01-10 08:00:05") from None


def _u_relative(
    std_mpe: float, resolution_kwh: float, energy_kwh: float, amount: float | None
) -> float:
    """U (k = 2, in %) of the display or payment test at energy E: the device's MPE
    (rectangular), the display resolution over two readings (triangular) and, for the
    payment, the 0.01 yuan amount resolution (triangular)."""
    terms = [std_mpe / math.sqrt(3), 100.0 * resolution_kwh / energy_kwh / math.sqrt(6)]
    if amount is not None:
        terms.append(100.0 * 0.01 / amount / math.sqrt(6))
    return 2.0 * math.sqrt(sum(t * t for t in terms))


def display_test_energy(
    mpe_percent: float, std_mpe: float, resolution_kwh: float, tariff: float, least: float
) -> float:
    """The smallest energy (kWh, in 0.5 kWh steps, at least ``least``) for which U of the
    display and payment tests is ≤ ``mpe_percent``/3. When the verification device alone
    gives more than that, no energy helps: ``least`` is kept and the results say the method
    cannot decide (JJF 1094 zones apply)."""
    if 2.0 * std_mpe / math.sqrt(3) > mpe_percent / 3:
        return least
    energy = least
    for _ in range(400):
        worst = max(
            _u_relative(std_mpe, resolution_kwh, energy, None),
            _u_relative(std_mpe, resolution_kwh, energy, energy * tariff),
        )
        if worst <= mpe_percent / 3 * (1 + 1e-12):
            return energy
        energy += 0.5
    raise ValueError(
        f"no test energy up to {energy:g} kWh makes U ≤ MPE/3 = {mpe_percent / 3:.3g} %: "
        "the verification device is not good enough for this class"
    )


_POINT_LABELS = {
    "Imin": BiText("最小电流 Imin", "Imin"),
    "Imax": BiText("最大电流 Imax", "Imax"),
    "display": BiText("电能示值", "energy display"),
    "payment": BiText("付费金额", "payment amount"),
    "clock": BiText("时钟", "clock"),
}


def _label(name: str) -> BiText:
    shown = name.replace("Imax", " Imax")
    return _POINT_LABELS.get(name, BiText(shown, shown))


class ChargingPileProcedure(Procedure):
    """Shared body of the AC and DC charging-pile verifications (no id: not registered)."""

    roles: ClassVar[dict[str, str]] = {
        "tester": "pile_tester",
        "load": "programmable_load",
        "env": "environment_monitor",
    }
    under_test = "charging_pile"
    parameters = (
        Parameter("accuracy_class", "准确度等级 Accuracy class (1, 2)", item="accuracy_class"),
        Parameter("rated_power", "额定功率 Rated power", "kW", item="rated_power"),
        Parameter("nominal_voltage", "额定电压 Nominal voltage", "V", item="nominal_voltage"),
        Parameter("imax", "最大电流 Imax (default P/U)", "A", required=False, item="imax"),
        Parameter(
            "imin", "最小电流 Imin (default Imax/10, ≥ 6 A)", "A", required=False, item="imin"
        ),
        Parameter("meter_constant", "脉冲常数 Pulse constant", "1/kWh", item="meter_constant"),
        Parameter("tariff", "电价 Tariff (元/kWh yuan/kWh)", "yuan/kWh", item="tariff"),
        Parameter(
            "verification",
            "检定类别 first | subsequent 首次/后续",
            default="first",
            item="verification",
            choices=("first", "subsequent"),
        ),
        Parameter(
            "standard_mpe",
            "检定装置最大允许误差 Verification device MPE",
            "percent",
            "0.05 %",
        ),
        Parameter(
            "display_energy",
            "示值与付费试验电能 Energy of the display and payment tests",
            "kWh",
            table="display_energy",
        ),
    )

    @classmethod
    def source_sha256(cls) -> str:
        """SHA-256 over the procedure module, this shared module and the helpers."""
        return common.combined_sha256(cls.source_path(), Path(__file__), Path(common.__file__))

    # ------------------------------------------------------------------ plan

    def plan(self, p: PlanningContext) -> None:
        """Check the nameplate data, derive Imax, Imin and size the display test."""
        cls_text = str(p.value("accuracy_class")).strip().removeprefix("class").strip()
        if cls_text not in ("1", "2"):
            raise p.refuse(f"parameter accuracy_class: {cls_text!r} is not 1 or 2")
        for name in ("rated_power", "nominal_voltage", "meter_constant", "standard_mpe"):
            if p.value(name).magnitude <= 0:
                raise p.refuse(f"parameter {name}: must be positive")
        tariff = float(p.value("tariff").to("yuan/kWh").magnitude)
        if not 0 < tariff < 100:
            raise p.refuse(f"parameter tariff: {tariff:g} 元/kWh is not a plausible tariff")
        if p.value("imax") is None:
            p.set(
                "imax",
                (p.value("rated_power") / p.value("nominal_voltage")).to("A"),
                ParameterSource.ITEM,
                "item rated_power / nominal_voltage",
            )
        if p.value("imin") is None:
            p.set(
                "imin",
                max(p.value("imax") / 10, ureg.Quantity(6.0, "A")),
                ParameterSource.PROCEDURE,
                "Imax/10, not less than 6 A",
            )
        imin, imax = p.value("imin"), p.value("imax")
        if not imin.magnitude > 0 or not imin < imax:
            raise p.refuse(f"parameters imin/imax: need 0 < Imin < Imax, got {imin:~P}")
        mpe = float(self.mpe(cls_text).magnitude) * min(
            float(self.table.limit("display_mpe_factor").to("").magnitude),
            float(self.table.limit("payment_mpe_factor").to("").magnitude),
        )
        least = float(p.value("display_energy").to("kWh").magnitude)
        try:
            energy = display_test_energy(
                mpe,
                float(p.value("standard_mpe").to("percent").magnitude),
                float(self.table.limit("display_resolution").to("kWh").magnitude),
                tariff,
                least,
            )
        except ValueError as exc:
            raise p.refuse(str(exc)) from None
        if energy > least:
            p.set(
                "display_energy",
                ureg.Quantity(energy, "kWh"),
                ParameterSource.PROCEDURE,
                f"sized so that U ≤ MPE/3 for class {cls_text} (table: {least:g} kWh)",
            )
        currents = [self.current_of(point, imin, imax) for point in self.table.points]
        for point, current in zip(self.table.points, currents, strict=True):
            p.add_point(point.name, _label(point.name), current)
        zero_a = ureg.Quantity(0.0, "A")
        p.use_standard("pile_tester", "current", zero_a, max(currents))
        voltage = p.value("nominal_voltage")
        p.use_standard("pile_tester", "voltage", voltage, voltage)
        for name in ("display", "payment", "clock"):
            p.add_point(name, _label(name))

    def parse_parameters(self, raw: dict[str, str]) -> dict[str, Any]:
        """Parse the plan's parameters (the class without a "class" prefix)."""
        p = super().parse_parameters(raw)
        p["accuracy_class"] = str(p["accuracy_class"]).strip().removeprefix("class").strip()
        return p

    def mpe(self, accuracy_class: str) -> Any:
        """|MPE| of the operating error for a class."""
        return self.table.limit(f"mpe_class_{accuracy_class}").to("percent")

    def _limit(self, value: Any, keys: list[str], kind: LimitKind = LimitKind.SYMMETRIC) -> Limit:
        unverified = bool(common.unverified_used(self.table, keys))
        return Limit(value, kind, keys[-1], unverified)

    def current_of(self, point: TestPoint, imin: Any, imax: Any) -> Any:
        """The test current of a point: Imin, Imax, or nominal × Imax."""
        if point.name == "Imin":
            return imin.to("A")
        factor = float(point.nominal.to("dimensionless").magnitude)
        return (imax * factor).to("A")

    # ------------------------------------------------------------------ body

    def steps(self) -> Sequence[Step]:
        """Setup, an energy step per current, display and payment, clock."""
        points = [
            Step(p.name, f"工作误差 Operating error at {p.name}", partial(self.energy_point, p))
            for p in self.table.points
        ]
        return [
            Step("setup", "准备 Setup", self.setup),
            *points,
            Step("display", "示值误差与付费金额 Display and payment", self.display),
            Step("clock", "时钟示值误差 Clock error", self.clock),
        ]

    def setup(self, ctx: StepContext) -> None:
        """Connect the verification device and tell it the pile's pulse constant."""
        ctx.confirm(
            "pile.connect",
            "连接充电桩、负载与检定装置，接入充电桩脉冲输出",
            "Connect the pile, the load and the verification device; wire the pile's pulse "
            "output to the device",
        )
        p = ctx.parameters
        ctx.instrument(ProgrammableLoad, "load").set_output(False)
        ctx.instrument(ChargingPileTester, "tester").set_meter_constant(p["meter_constant"])
        ctx.message(
            f"Imax = {p['imax']:.4g~P}, Imin = {p['imin']:.4g~P}, 等级 class {p['accuracy_class']}"
        )

    def _charge(self, ctx: StepContext, current: Any, duration: Any, point: str) -> list[Any]:
        """One energy test: returns [standard energy, pulses, current, voltage] readings."""
        tester = ctx.instrument(ChargingPileTester, "tester")
        load = ctx.instrument(ProgrammableLoad, "load")
        # commands without a reply are followed by a query on the same line, so each
        # switching has taken effect before the other instrument is told anything
        load.set_output(False)
        load.set_current(current)
        load.read_current()
        tester.start_energy_test()
        tester.read_standard_energy()
        load.set_output(True)
        ctx.wait(duration * 0.5)
        i = ctx.measure("tester", "read_current", "current", test_point=point)
        u = ctx.measure("tester", "read_voltage", "voltage", test_point=point)
        ctx.wait(duration * 0.5)
        load.set_output(False)
        load.read_current()
        tester.stop_energy_test()
        e = ctx.measure("tester", "read_standard_energy", "standard_energy", test_point=point)
        n = ctx.measure("tester", "read_pulses", "pile_pulses", test_point=point)
        if e.value.magnitude <= 0:
            raise RuntimeError(
                f"{point}: 检定装置未测到电能 the verification device measured no energy"
            )
        return [e, n, i, u]

    def energy_point(self, point: TestPoint, ctx: StepContext) -> None:
        """Operating error at one current by the pulse method."""
        p = ctx.parameters
        current = self.current_of(point, p["imin"], p["imax"])
        mpe = self.mpe(p["accuracy_class"])
        divisor = self.table.limit("pulse_resolution_divisor").to("").magnitude
        pulses_needed = math.ceil(divisor / float(mpe.to("").magnitude))
        power = (current * p["nominal_voltage"]).to("kW")
        duration = (ureg.Quantity(pulses_needed, "count") / p["meter_constant"] / power).to("s")
        duration = duration * 1.05
        used: list[RecordedReading] = []
        errors: list[Any] = []
        counts: list[float] = []
        for _ in range(point.repeats):
            e, n, _i, _u = readings = self._charge(ctx, current, duration, point.name)
            used += readings
            pile_energy = (n.value / p["meter_constant"]).to("kWh")
            errors.append(relative_error(pile_energy, e.value.to("kWh")))
            counts.append(float(n.value.magnitude))
        error = mean(errors)
        components = [
            type_b_half_width(
                "检定装置 verification device (MPE, rectangular)",
                p["standard_mpe"],
                Distribution.RECTANGULAR,
            ),
            type_b_half_width(
                "脉冲分辨力 pulse resolution (±1 pulse)",
                ureg.Quantity(100.0 / (sum(counts) / len(counts)), "percent"),
                Distribution.TRIANGULAR,
            ),
        ]
        if len(errors) >= 2:
            components.append(type_a_component("重复性 repeatability", errors))
        self._judge(
            ctx,
            Point(point.name, _label(point.name), current),
            Characteristic.ENERGY_ERROR,
            error,
            self._limit(
                mpe,
                [
                    f"points.{point.name}",
                    "repeats.energy",
                    f"limits.mpe_class_{p['accuracy_class']}",
                ],
            ),
            components,
            used,
            reference=mean([r.value for r in used if r.quantity == "standard_energy"]),
            indication=mean(
                [
                    (r.value / p["meter_constant"]).to("kWh")
                    for r in used
                    if r.quantity == "pile_pulses"
                ]
            ),
            extras=(Extra("n", BiText("测量次数", "repeats"), len(errors)),),
        )

    def _judge(
        self,
        ctx: StepContext,
        point: Point,
        characteristic: Characteristic,
        error: Any,
        limit: Limit,
        components: list[UncertaintyComponent],
        used: Sequence[RecordedReading],
        *,
        form: ErrorForm = ErrorForm.RELATIVE,
        reference: Any | None = None,
        indication: Any | None = None,
        extras: tuple[Extra, ...] = (),
    ) -> None:
        budget = uncertainty_budget(
            error,
            components,
            measurand=f"{characteristic.value}({point.key})",
            coverage=Coverage.fixed(2.0),
        )
        rule = self.table.decision_rule.value
        decision = decide(rule, error, limit.value, budget.expanded)
        flags: list[ResultFlag] = [ResultFlag.UNVERIFIED_LIMIT] if limit.unverified else []
        if budget.expanded > limit.value / 3:
            flags.append(ResultFlag.METHOD_CANNOT_DECIDE)
        ctx.record(
            ResultRecord(
                point=point,
                characteristic=characteristic,
                value=error,
                form=form,
                reference=reference,
                indication=indication,
                limit=limit,
                uncertainty=Uncertainty.of(budget),
                verdict=decision.verdict,
                decision_rule=rule,
                budget=StoredBudget.from_calc(budget),
                flags=tuple(flags),
                extras=extras,
            ),
            readings=used,
        )

    def display(self, ctx: StepContext) -> None:
        """Display indication error and payment-amount error over one charge at Imax."""
        p = ctx.parameters
        plausible = (ureg.Quantity(0.0, "kWh"), ureg.Quantity(1e7, "kWh"))
        zh = "充电前读取充电桩显示的电能"
        en = "BEFORE the charge: read the energy shown on the pile's display"
        ctx.enter_value(
            "pile.display_energy", zh, en, like="kWh", plausible=plausible, test_point="display"
        )
        d0 = ctx.taken[-1]  # the reading enter_value recorded
        pay0 = self._payment(ctx, before=True)
        energy = p["display_energy"].to("kWh")
        duration = (energy / (p["imax"] * p["nominal_voltage"])).to("s")
        e, n, i, u = self._charge(ctx, p["imax"], duration, "display")
        # after the charge the display cannot show less than before it
        after = (d0.value.to("kWh"), plausible[1])
        ctx.enter_value(
            "pile.display_energy_after",
            "充电后读取充电桩显示的电能",
            "AFTER the charge: read the energy shown on the pile's display",
            like="kWh",
            plausible=after,
            test_point="display",
        )
        d1 = ctx.taken[-1]
        pay1 = self._payment(ctx, before=False, at_least=pay0.value)
        used = [d0, pay0, e, n, i, u, d1, pay1]
        std = e.value.to("kWh")
        shown = (d1.value - d0.value).to("kWh")
        resolution = self.table.limit("display_resolution").to("kWh")
        cls = p["accuracy_class"]
        mpe_class = self.mpe(cls)
        std_comp = type_b_half_width(
            "检定装置 verification device (MPE, rectangular)",
            p["standard_mpe"],
            Distribution.RECTANGULAR,
        )
        energy_extra = Extra("energy", BiText("试验电能", "test energy"), energy)
        self._judge(
            ctx,
            Point("display", _label("display"), energy),
            Characteristic.DISPLAY_ERROR,
            relative_error(shown, std),
            self._limit(
                mpe_class * self.table.limit("display_mpe_factor").to("").magnitude,
                [f"limits.mpe_class_{cls}", "limits.display_mpe_factor"],
            ),
            [
                std_comp,
                type_b_half_width(
                    "显示分辨力 display resolution (two readings)",
                    (resolution / std).to("percent"),
                    Distribution.TRIANGULAR,
                ),
            ],
            used,
            reference=std,
            indication=shown,
            extras=(energy_extra,),
        )
        tariff = p["tariff"].to("yuan/kWh")
        expected = (std * tariff).to("yuan")
        paid = (pay1.value - pay0.value).to("yuan")
        self._judge(
            ctx,
            Point("payment", _label("payment"), energy),
            Characteristic.PAYMENT_ERROR,
            relative_error(paid, expected),
            self._limit(
                mpe_class * self.table.limit("payment_mpe_factor").to("").magnitude,
                [f"limits.mpe_class_{cls}", "limits.payment_mpe_factor"],
            ),
            [
                std_comp,
                type_b_half_width(
                    "金额分辨力 amount resolution 0.01 元 (two readings)",
                    (ureg.Quantity(0.01, "yuan") / expected).to("percent"),
                    Distribution.TRIANGULAR,
                ),
                type_b_half_width(
                    "显示分辨力 display resolution × tariff",
                    (resolution / std).to("percent"),
                    Distribution.TRIANGULAR,
                ),
            ],
            used,
            extras=(
                energy_extra,
                Extra("tariff", BiText("电价", "tariff"), tariff),
                Extra("expected_amount", BiText("应付金额", "expected amount"), expected),
                Extra("indicated_amount", BiText("显示金额", "indicated amount"), paid),
                Extra("error_amount", BiText("金额误差", "amount error"), paid - expected),
            ),
        )

    def _payment(self, ctx: StepContext, *, before: bool, at_least: Any = None) -> RecordedReading:
        def parse(text: str) -> Any:
            amount = parse_money(text)
            if at_least is not None and amount < at_least:
                raise ValueError(
                    f"{amount:~P} is less than the {at_least:~P} shown before the charge"
                )
            return amount

        when = ("充电前", "BEFORE the charge") if before else ("充电后", "AFTER the charge")
        amount = ctx.enter_text(
            "pile.payment_amount" if before else "pile.payment_amount_after",
            f"{when[0]}读取充电桩显示的付费金额（元）",
            f"{when[1]}: read the payment amount shown on the pile (yuan)",
            parse=parse,
        )
        return ctx.take_reading("payment_amount", amount, source="operator", test_point="payment")

    def clock(self, ctx: StepContext) -> None:
        """Clock error: the pile's clock against the reference clock, read together."""
        p = ctx.parameters
        pile = ctx.enter_text(
            "pile.clock",
            "读取充电桩时钟（年-月-日 时:分:秒）",
            "Read the pile's clock (YYYY-MM-DD hh:mm:ss)",
            parse=parse_clock,
        )

        def reference(text: str) -> datetime:
            ref = parse_clock(text)
            if (ref.tzinfo is None) != (pile.tzinfo is None):
                raise ValueError("give both clocks with a time zone or both without")
            return ref

        ref = ctx.enter_text(
            "pile.reference_clock",
            "同时读取标准时钟",
            "Read the reference clock at the same moment",
            parse=reference,
        )
        offset = ureg.Quantity((pile - ref).total_seconds(), "s")
        r = ctx.take_reading("clock_error", offset, source="operator", test_point="clock")
        limit_key = "clock_first" if p["verification"] == "first" else "clock_subsequent"
        self._judge(
            ctx,
            Point("clock", _label("clock")),
            Characteristic.CLOCK_ERROR,
            offset,
            self._limit(self.table.limit(limit_key).to("s"), [f"limits.{limit_key}"]),
            [
                type_b_half_width(
                    "读数分辨力 1 s resolution (two clocks)",
                    ureg.Quantity(1.0, "s"),
                    Distribution.TRIANGULAR,
                )
            ],
            [r],
            form=ErrorForm.ABSOLUTE,
            extras=(
                Extra("pile_clock", BiText("充电桩时钟", "pile clock"), pile.isoformat()),
                Extra("reference_clock", BiText("标准时钟", "reference clock"), ref.isoformat()),
                Extra("verification", BiText("检定类别", "verification"), p["verification"]),
            ),
        )
