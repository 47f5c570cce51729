"""JJG 1037-2008: verification of gas turbine flowmeters against a reference flow standard.

At each flow point of the table (qmin, qt, fractions of qmax, qmax) the flow controller
sets the flow; the reference standard totalizes the true volume and counts the pulses of
the meter under test over a collection long enough that one pulse is a small part of the
MPE. Per repeat the relative error is E_i = (V_meter − V_ref)/V_ref with V_meter =
pulses / K; the point's error is the mean of the E_i and its repeatability the standard
deviation of the E_i (JJG 1037 form). The MPE depends on the accuracy class and is
larger below the transitional flow qt. Verdict per JJF 1094 with U (k = 2) from the
standard's certificate, the repeats and the pulse resolution. Before anything runs the
standard's U must be ≤ 1/3 of the smallest |MPE|, else the run is refused.

The meter's qmin and qmax are its registered range, its class and K-factor its registered
nameplate data; the flow points are planned from them (only points within qmin … qmax,
qmin always included), so the certificate's range and points agree.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

from drivers.roles import FlowController, ReferenceFlowStandard
from lims.calc import (
    Coverage,
    Distribution,
    decide,
    mean,
    relative_error,
    repeatability_of_relative_errors,
    type_a_component,
    type_b_half_width,
    uncertainty_budget,
)
from lims.engine import Parameter, Procedure, Step, StepContext, TestPoint
from lims.models.enums import ServiceKind, Verdict
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
from lims.units import display_quantity, ureg
from lims.vocabulary import BiText
from procedures import common

__all__ = ["ACCURACY_CLASSES", "Jjg1037GasFlowmeter", "flow_of_point"]

ACCURACY_CLASSES = ("0.2", "0.5", "1.0", "1.5", "2.5")


def _class_text(raw: str) -> str:
    text = raw.strip().removeprefix("class").strip()
    try:
        value = float(text)
    except ValueError:
        raise ValueError(
            f"parameter 'accuracy_class': {raw!r} is not a class "
            f"(known: {', '.join(ACCURACY_CLASSES)})"
        ) from None
    for c in ACCURACY_CLASSES:
        if math.isclose(float(c), value):
            return c
    raise ValueError(
        f"parameter 'accuracy_class': class {raw!r} is not in JJG 1037 "
        f"(known: {', '.join(ACCURACY_CLASSES)})"
    )


def flow_of_point(point: TestPoint, qmin: Any, qt: Any, qmax: Any) -> Any:
    """The flow of a table point: nominal × qmin, × qt or × qmax (by the point's name)."""
    factor = float(point.nominal.to("dimensionless").magnitude)
    base = {"qmin": qmin, "qt": qt}.get(point.name, qmax)
    return (base * factor).to("m**3/h")


class Jjg1037GasFlowmeter(Procedure):
    """Gas turbine flowmeter verification (JJG 1037-2008)."""

    id = "jjg1037-gas-flowmeter"
    version = "2.0.0"
    title_zh = "气体涡轮流量计检定"
    title_en = "Verification of gas turbine flowmeters"
    kind = ServiceKind.VERIFICATION
    regulation = "JJG 1037-2008"
    roles: ClassVar[dict[str, str]] = {
        "controller": "flow_controller",
        "standard": "reference_flow_standard",
        "env": "environment_monitor",
    }
    under_test = "flowmeter_under_test"
    parameters = (
        Parameter("accuracy_class", "准确度等级 Accuracy class", item="accuracy_class"),
        Parameter("qmin", "最小流量 Minimum flow qmin", "m**3/h", item="range_min"),
        Parameter("qmax", "最大流量 Maximum flow qmax", "m**3/h", item="range_max"),
        Parameter("qt", "分界流量 Transitional flow qt", "m**3/h", required=False, item="qt"),
        Parameter("k_factor", "仪表系数 Meter K-factor", "1/L", item="k_factor"),
        Parameter(
            "standard_U",
            "标准装置相对扩展不确定度 (k=2) Standard's relative U (k=2)",
            "percent",
            "0.25 %",
        ),
    )
    table_file = "jjg1037.toml"

    @classmethod
    def source_sha256(cls) -> str:
        """SHA-256 over this module and the shared helpers it runs."""
        return common.combined_sha256(cls.source_path(), Path(common.__file__))

    # ------------------------------------------------------------------ plan

    def plan(self, p: PlanningContext) -> None:
        """Check the item's range and class, derive qt, check the standard, plan the flows."""
        try:
            accuracy_class = _class_text(p.value("accuracy_class"))
        except ValueError as exc:
            raise p.refuse(str(exc)) from None
        qmin, qmax = p.value("qmin"), p.value("qmax")
        if not qmin.magnitude > 0 or not qmin < qmax:
            raise p.refuse(
                f"item range: need 0 < qmin < qmax, the item registers "
                f"{display_quantity(qmin, 'g')} … {display_quantity(qmax, 'g')}"
            )
        if p.value("qt") is None:
            p.set(
                "qt",
                (qmax * self.table.limit("qt_ratio")).to("m**3/h"),
                ParameterSource.TABLE,
                "qmax × table limits.qt_ratio",
            )
        qt = p.value("qt")
        if not qmin <= qt <= qmax:
            raise p.refuse(f"parameter qt: {display_quantity(qt, 'g')} is outside qmin … qmax")
        if p.value("k_factor").magnitude <= 0:
            raise p.refuse("parameter k_factor: must be positive")
        stated = p.register.standard_uncertainty("reference_flow_standard")
        if stated is not None:
            u, k = stated
            p.set(
                "standard_U",
                (u * 2.0 / k).to("percent"),
                ParameterSource.REGISTER,
                "certificate of the flow standard on the bench (scaled to k = 2)",
            )
        big_u = p.value("standard_U")
        if big_u.magnitude <= 0:
            raise p.refuse("parameter standard_U: must be positive")
        mpe = self.mpe_upper(accuracy_class)
        allowed = mpe / self.table.limit("standard_divisor").to("dimensionless").magnitude
        if big_u > allowed:
            raise p.refuse(
                f"标准装置不满足要求 the standard's U = {big_u:~P} (k=2) exceeds 1/3 of the "
                f"MPE ±{mpe:~P} of class {accuracy_class} (allowed ≤ "
                f"{allowed:.3g~P}); use a better standard"
            )
        flows = self.flows(qmin, qt, qmax)
        for name, flow in flows.items():
            p.add_point(name, _label(name), flow)
        p.use_standard(
            "reference_flow_standard", "volume flow", min(flows.values()), max(flows.values())
        )

    def flows(self, qmin: Any, qt: Any, qmax: Any) -> dict[str, Any]:
        """Flow of each table point to run: nominal × qmin, qt or qmax; a point outside
        qmin … qmax or within 2 % of an earlier one is left out (e.g. 0.10 qmax = qmin)."""
        out: dict[str, Any] = {}
        for tp in self.table.points:
            q = flow_of_point(tp, qmin, qt, qmax)
            if q < qmin * (1 - 1e-9) or q > qmax * (1 + 1e-9):
                continue
            if any(abs((q - other) / other).to("").magnitude < 0.02 for other in out.values()):
                continue
            out[tp.name] = q
        return out

    def parse_parameters(self, raw: dict[str, str]) -> dict[str, Any]:
        """Parse the plan's parameters; the class as the table names it (``1`` → ``1.0``)."""
        p = super().parse_parameters(raw)
        p["accuracy_class"] = _class_text(str(p["accuracy_class"]))
        return p

    def mpe_upper(self, accuracy_class: str) -> Any:
        """|MPE| for qt ≤ q ≤ qmax of a class."""
        return self.table.limit(f"mpe_class_{accuracy_class}").to("percent")

    def mpe_at(self, accuracy_class: str, q: Any, qt: Any) -> Limit:
        """The MPE at flow q (marked unverified when a table value it rests on is)."""
        keys = ["limits.qt_ratio", f"limits.mpe_class_{accuracy_class}"]
        mpe = self.mpe_upper(accuracy_class)
        if q < qt * (1 - 1e-9):
            keys.append("limits.mpe_factor_below_qt")
            mpe = mpe * self.table.limit("mpe_factor_below_qt").to("dimensionless").magnitude
        unverified = bool(common.unverified_used(self.table, keys))
        return Limit(mpe, LimitKind.SYMMETRIC, keys[-1], unverified)

    # ------------------------------------------------------------------ body

    def steps(self) -> Sequence[Step]:
        """Setup, then one step per planned flow point."""
        planned = set(self.planned_points())
        return [
            Step("setup", "准备 Setup", self.setup),
            *(
                Step(tp.name, f"流量点 Flow point {tp.name}", partial(self.measure_point, tp))
                for tp in self.table.points
                if tp.name in planned
            ),
        ]

    def setup(self, ctx: StepContext) -> None:
        """Connections, environment and the meter's constant."""
        ctx.confirm(
            "flow.connect",
            "将被检流量计串接在流量控制器与标准装置之间，脉冲输出接标准装置",
            "Install the meter in line between the flow controller and the standard; "
            "connect its pulse output to the standard",
        )
        p = ctx.parameters
        ctx.message(
            f"等级 class {p['accuracy_class']}, qmin {p['qmin']:~P}, qt {p['qt']:.4g~P}, "
            f"qmax {p['qmax']:~P}, K {p['k_factor']:~P}"
        )

    def measure_point(self, point: TestPoint, ctx: StepContext) -> None:
        """Collect the repeats at one flow point and record its error and repeatability."""
        p = ctx.parameters
        q = self.flows(p["qmin"], p["qt"], p["qmax"])[point.name]
        mpe = self.mpe_at(p["accuracy_class"], q, p["qt"])
        k_factor = p["k_factor"]
        divisor = self.table.limit("pulse_resolution_divisor").to("").magnitude
        pulses_needed = math.ceil(divisor / float(mpe.value.to("").magnitude))
        collect = (ureg.Quantity(pulses_needed, "count") / (k_factor * q)).to("s") * 1.05
        controller = ctx.instrument(FlowController, "controller")
        standard = ctx.instrument(ReferenceFlowStandard, "standard")
        controller.set_flow(q.to("L/min"))
        ctx.wait(self.table.limit("settle_time"))
        flow = ctx.measure("standard", "read_flow", "reference_flow", test_point=point.name)
        meter_volumes: list[Any] = []
        ref_volumes: list[Any] = []
        pulses: list[float] = []
        used = [flow]
        for _ in range(point.repeats):
            standard.stop_totalizing()
            standard.reset_totalizer()
            standard.start_totalizing()
            ctx.wait(collect)
            standard.stop_totalizing()
            vol = ctx.measure("standard", "read_volume", "reference_volume", test_point=point.name)
            n = ctx.measure("standard", "read_pulses", "meter_pulses", test_point=point.name)
            used += [vol, n]
            if vol.value.magnitude <= 0 or n.value.magnitude <= 0:
                raise RuntimeError(
                    f"流量点 {point.name}: 标准装置未计到体积或脉冲 the standard counted no "
                    f"volume ({vol.value:~P}) or no pulses ({n.value:~P}): check the pulse cable"
                )
            ref_volumes.append(vol.value.to("L"))
            meter_volumes.append((n.value / k_factor).to("L"))
            pulses.append(float(n.value.magnitude))
        controller.set_flow(ureg.Quantity(0.0, "L/min"))
        self._record_point(ctx, point.name, q, mpe, meter_volumes, ref_volumes, pulses, used)

    def _record_point(
        self,
        ctx: StepContext,
        name: str,
        q: Any,
        mpe: Limit,
        meter_volumes: list[Any],
        ref_volumes: list[Any],
        pulses: list[float],
        used: Sequence[Any],
    ) -> None:
        p = ctx.parameters
        errors = [relative_error(m, r) for m, r in zip(meter_volumes, ref_volumes, strict=True)]
        error = mean(errors)
        repeat = repeatability_of_relative_errors(meter_volumes, ref_volumes)
        rep_limit = Limit(
            mpe.value / self.table.limit("repeatability_divisor").to("").magnitude,
            LimitKind.UPPER,
            "limits.repeatability_divisor",
            mpe.unverified,
        )
        n_mean = sum(pulses) / len(pulses)
        components = [
            type_b_half_width(
                "标准装置 reference standard (U, k=2)",
                p["standard_U"],
                Distribution.NORMAL,
                k=2.0,
            ),
            type_a_component("重复性 repeatability of E_i", errors),
            type_b_half_width(
                "脉冲分辨力 pulse resolution (±1 pulse)",
                ureg.Quantity(100.0 / n_mean, "percent"),
                Distribution.TRIANGULAR,
            ),
        ]
        budget = uncertainty_budget(
            error, components, measurand=f"E({name})", coverage=Coverage.fixed(2.0)
        )
        rule = self.table.decision_rule.value
        decision = decide(rule, error, mpe.value, budget.expanded)
        rep_verdict = Verdict.PASS if repeat <= rep_limit.value * (1 + 1e-9) else Verdict.FAIL
        point = Point(name, _label(name), q)
        flags = (ResultFlag.UNVERIFIED_LIMIT,) if mpe.unverified else ()
        n = Extra("n", BiText("测量次数", "repeats"), len(errors))
        ctx.record(
            ResultRecord(
                point=point,
                characteristic=Characteristic.INDICATION_ERROR,
                value=error,
                form=ErrorForm.RELATIVE,
                reference=mean(ref_volumes),
                indication=mean(meter_volumes),
                limit=mpe,
                uncertainty=Uncertainty.of(budget),
                verdict=decision.verdict,
                decision_rule=rule,
                budget=StoredBudget.from_calc(budget),
                flags=flags,
                extras=(n,),
            ),
            readings=used,
        )
        ctx.record(
            ResultRecord(
                point=point,
                characteristic=Characteristic.REPEATABILITY,
                value=repeat,
                form=ErrorForm.VALUE,
                limit=rep_limit,
                verdict=rep_verdict,
                decision_rule="limit",
                flags=flags,
                extras=(n,),
            ),
            readings=used,
        )


def _label(name: str) -> BiText:
    """A flow point as people name it: 最小流量 qmin, 0.25 qmax …"""
    named = {
        "qmin": BiText("最小流量 qmin", "qmin"),
        "qt": BiText("分界流量 qt", "qt"),
        "qmax": BiText("最大流量 qmax", "qmax"),
    }
    if name in named:
        return named[name]
    shown = name.replace("qmax", " qmax")
    return BiText(shown, shown)
