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
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

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
from lims.units import ureg
from procedures import common

__all__ = ["ChargingPileProcedure", "parse_clock", "parse_money"]

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


def _tariff_text(default: str) -> str:
    """A class's default tariff with its unit (a bare number there means yuan/kWh)."""
    try:
        float(default)
    except ValueError:
        return default
    return f"{default} yuan/kWh"


def parse_clock(text: str) -> datetime:
    """A date and time as read off a clock, ISO form ``2026-01-10 08:00:05``."""
    try:
        return datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{text!r} is not a date and time like 2026-01-10 08:00:05") from None


class ChargingPileProcedure(Procedure):
    """Shared body of the AC and DC charging-pile verifications (no id: not registered)."""

    default_class: ClassVar[str] = "2"
    default_power: ClassVar[str] = "7 kW"
    default_voltage: ClassVar[str] = "220 V"
    default_constant: ClassVar[str] = "1000 1/kWh"
    default_tariff: ClassVar[str] = "1.20"

    roles: ClassVar[dict[str, str]] = {
        "tester": "pile_tester",
        "load": "programmable_load",
        "env": "environment_monitor",
    }

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.parameters = (
            Parameter(
                "accuracy_class", "准确度等级 Accuracy class (1, 2)", None, cls.default_class
            ),
            Parameter("rated_power", "额定功率 Rated power", "kW", cls.default_power),
            Parameter("nominal_voltage", "额定电压 Nominal voltage", "V", cls.default_voltage),
            Parameter("imax", "最大电流 Imax (default P/U)", "A", None, required=False),
            Parameter("imin", "最小电流 Imin (default Imax/10, ≥ 6 A)", "A", None, required=False),
            Parameter("meter_constant", "脉冲常数 Pulse constant", "1/kWh", cls.default_constant),
            Parameter(
                "tariff",
                "电价 Tariff (元/kWh yuan/kWh)",
                "yuan/kWh",
                _tariff_text(cls.default_tariff),
            ),
            Parameter("verification", "检定类别 first | subsequent 首次/后续", None, "first"),
            Parameter(
                "standard_mpe",
                "检定装置最大允许误差 Verification device MPE",
                "percent",
                "0.05 %",
            ),
        )

    @classmethod
    def source_sha256(cls) -> str:
        """SHA-256 over the procedure module, this shared module and the helpers."""
        return common.combined_sha256(cls.source_path(), Path(__file__), Path(common.__file__))

    # ------------------------------------------------------------------ parameters

    def parse_parameters(self, raw: dict[str, str]) -> dict[str, Any]:
        """Validate the parameters and derive Imax and Imin."""
        p = super().parse_parameters(raw)
        cls_text = str(p["accuracy_class"]).strip().removeprefix("class").strip()
        if cls_text not in ("1", "2"):
            raise ValueError(f"parameter 'accuracy_class': {cls_text!r} is not 1 or 2")
        p["accuracy_class"] = cls_text
        if p["verification"] not in ("first", "subsequent"):
            raise ValueError("parameter 'verification': give 'first' or 'subsequent'")
        for name in ("rated_power", "nominal_voltage", "meter_constant", "standard_mpe"):
            if p[name].magnitude <= 0:
                raise ValueError(f"parameter {name!r}: must be positive")
        tariff = float(p["tariff"].to("yuan/kWh").magnitude)
        if not 0 < tariff < 100:
            raise ValueError(f"parameter 'tariff': {p['tariff']:~P} is not a plausible tariff")
        if p["imax"] is None:
            p["imax"] = (p["rated_power"] / p["nominal_voltage"]).to("A")
        if p["imin"] is None:
            p["imin"] = max(p["imax"] / 10, ureg.Quantity(6.0, "A"))
        if not p["imin"].magnitude > 0 or not p["imin"] < p["imax"]:
            raise ValueError(f"parameters imin/imax: need 0 < Imin < Imax, got {p['imin']:~P}")
        return p

    def mpe(self, accuracy_class: str) -> Any:
        """|MPE| of the operating error for a class."""
        return self.table.limit(f"mpe_class_{accuracy_class}").to("percent")

    def current_of(self, point: TestPoint, p: dict[str, Any]) -> Any:
        """The test current of a point: Imin, Imax, or nominal × Imax."""
        if point.name == "Imin":
            return p["imin"].to("A")
        factor = float(point.nominal.to("dimensionless").magnitude)
        return (p["imax"] * factor).to("A")

    # ------------------------------------------------------------------ body

    def steps(self) -> Sequence[Step]:
        """Setup, an energy step per current, display and payment, clock."""
        points = [
            Step(p.name, f"工作误差 Operating error at {p.name}", self._energy_step(p))
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
        ctx.instrument("load").set_output(False)
        ctx.instrument("tester").set_meter_constant(p["meter_constant"])
        ctx.message(
            f"Imax = {p['imax']:.4g~P}, Imin = {p['imin']:.4g~P}, 等级 class {p['accuracy_class']}"
        )

    def _charge(self, ctx: StepContext, current: Any, duration: Any, point: str) -> list[Any]:
        """One energy test: returns [standard energy, pulses, current, voltage] readings."""
        tester, load = ctx.instrument("tester"), ctx.instrument("load")
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

    def _energy_step(self, point: TestPoint) -> Callable[[StepContext], None]:
        def run(ctx: StepContext) -> None:
            self.energy_point(ctx, point)

        return run

    def energy_point(self, ctx: StepContext, point: TestPoint) -> None:
        """Operating error at one current by the pulse method."""
        p = ctx.parameters
        current = self.current_of(point, p)
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
            point.name,
            "energy_error",
            error,
            mpe,
            components,
            [f"limits.mpe_class_{p['accuracy_class']}", f"points.{point.name}", "repeats.energy"],
            used,
            {
                "current": current,
                "reference": mean([r.value for r in used if r.quantity == "standard_energy"]),
                "indication": mean(
                    [
                        (r.value / p["meter_constant"]).to("kWh")
                        for r in used
                        if r.quantity == "pile_pulses"
                    ]
                ),
                "n": len(errors),
            },
        )

    def _judge(
        self,
        ctx: StepContext,
        point: str,
        item: str,
        error: Any,
        mpe: Any,
        components: list[UncertaintyComponent],
        keys: list[str],
        used: Sequence[RecordedReading],
        extra: dict[str, Any],
    ) -> None:
        budget = uncertainty_budget(
            error, components, measurand=f"{item}({point})", coverage=Coverage.fixed(2.0)
        )
        rule = self.table.decision_rule.value
        decision = decide(rule, error, mpe, budget.expanded)
        ctx.record_result(
            point,
            item,
            {
                **extra,
                "error": error,
                "mpe": mpe,
                "U": budget.expanded,
                "k": budget.k,
                "unverified": ", ".join(common.unverified_used(self.table, keys)),
                **common.decision_values(decision),
            },
            verdict=common.record_verdict(decision.verdict),
            decision_rule=rule,
            readings=used,
            budget=common.budget_record(budget),
        )

    def display(self, ctx: StepContext) -> None:
        """Display indication error and payment-amount error over one charge at Imax."""
        p = ctx.parameters
        kwh = (0.0, 1e7)
        plausible = (ureg.Quantity(kwh[0], "kWh"), ureg.Quantity(kwh[1], "kWh"))
        zh, en = "读取充电桩显示的电能", "Read the energy shown on the pile's display"
        ctx.enter_value(
            "pile.display_energy", zh, en, like="kWh", plausible=plausible, test_point="display"
        )
        d0 = ctx.taken[-1]  # the reading enter_value recorded
        pay0 = self._payment(ctx)
        # after the charge the display cannot show less than before it
        after = (d0.value.to("kWh"), plausible[1])
        energy = self.table.limit("display_energy").to("kWh")
        duration = (energy / (p["imax"] * p["nominal_voltage"])).to("s")
        e, n, i, u = self._charge(ctx, p["imax"], duration, "display")
        ctx.enter_value(
            "pile.display_energy", zh, en, like="kWh", plausible=after, test_point="display"
        )
        d1 = ctx.taken[-1]
        pay1 = self._payment(ctx, at_least=pay0.value)
        used = [d0, pay0, e, n, i, u, d1, pay1]
        std = e.value.to("kWh")
        shown = (d1.value - d0.value).to("kWh")
        resolution = self.table.limit("display_resolution").to("kWh")
        mpe_class = self.mpe(p["accuracy_class"])
        std_comp = type_b_half_width(
            "检定装置 verification device (MPE, rectangular)",
            p["standard_mpe"],
            Distribution.RECTANGULAR,
        )
        self._judge(
            ctx,
            "display",
            "display_error",
            relative_error(shown, std),
            mpe_class * self.table.limit("display_mpe_factor").to("").magnitude,
            [
                std_comp,
                type_b_half_width(
                    "显示分辨力 display resolution (two readings)",
                    (resolution / std).to("percent"),
                    Distribution.TRIANGULAR,
                ),
            ],
            [f"limits.mpe_class_{p['accuracy_class']}", "limits.display_mpe_factor"],
            used,
            {"reference": std, "indication": shown, "n": 1},
        )
        tariff = p["tariff"].to("yuan/kWh")
        expected = (std * tariff).to("yuan")
        paid = (pay1.value - pay0.value).to("yuan")
        self._judge(
            ctx,
            "payment",
            "payment_error",
            relative_error(paid, expected),
            mpe_class * self.table.limit("payment_mpe_factor").to("").magnitude,
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
            [f"limits.mpe_class_{p['accuracy_class']}", "limits.payment_mpe_factor"],
            used,
            {
                "reference_amount": expected,
                "indicated_amount": paid,
                "error_amount": paid - expected,
                "tariff": tariff,
                "reference": std,
                "n": 1,
            },
        )

    def _payment(self, ctx: StepContext, at_least: Any = None) -> RecordedReading:
        def parse(text: str) -> Any:
            amount = parse_money(text)
            if at_least is not None and amount < at_least:
                raise ValueError(
                    f"{amount:~P} is less than the {at_least:~P} shown before the charge"
                )
            return amount

        amount = ctx.enter_text(
            "pile.payment_amount",
            "读取充电桩显示的付费金额（元）",
            "Read the payment amount shown on the pile (yuan)",
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
            "clock",
            "clock_error",
            offset,
            self.table.limit(limit_key).to("s"),
            [
                type_b_half_width(
                    "读数分辨力 1 s resolution (two clocks)",
                    ureg.Quantity(1.0, "s"),
                    Distribution.TRIANGULAR,
                )
            ],
            [f"limits.{limit_key}"],
            [r],
            {
                "pile_clock": pile.isoformat(),
                "reference_clock": ref.isoformat(),
                "verification": p["verification"],
                "n": 1,
            },
        )
