"""Calibration of CH4 (and CO2) NDIR gas analyzers by the lab's own method.

At zero gas and standard gases near 20, 50 and 80 %FS (3 repeats, each averaged): the
indication error (absolute, with the relative error beside it) with its expanded
uncertainty (GTC budget, k = 2), and the repeatability (RSD) at each standard gas. No
pass/fail is stated unless the work-order item carries the ILAC G8 decision rule agreed
with the customer together with the agreed tolerance (the item's ``tolerance``, in %FS or
in the measurand's unit); then each point is judged by that rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

from drivers.roles import GasDilutor
from lims.calc import (
    DECISION_RULES,
    JJF_1094,
    Coverage,
    as_fiducial,
    decide,
    from_fiducial,
    mean,
    relative_error,
    relative_standard_deviation,
)
from lims.engine import Parameter, Procedure, Step, StepContext
from lims.models.enums import ServiceKind
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
from lims.services.planning import PlanningContext
from lims.units import UnitParseError, display_quantity, parse_quantity, ureg
from lims.vocabulary import BiText, Verdict
from procedures.jjg635.gas import (
    FRACTION,
    GAS_ROLES,
    GasSpec,
    criteria_from_table,
    error_budget,
    measure_point,
    parse_span_and_gases,
    plan_gases,
    point_label,
)

__all__ = ["GasAnalyzerCalibration"]

COVERAGE = Coverage.fixed(2.0)


def parse_tolerance(text: str, span: Any) -> Any:
    """An agreed tolerance in %FS or in the measurand's unit, as µmol/mol (ValueError)."""
    try:
        q = parse_quantity(text)
        if q.dimensionality == ureg.Quantity(1, "percent_FS").dimensionality:
            q = from_fiducial(q, span)
        q = q.to(FRACTION)
    except (UnitParseError, Exception) as exc:
        raise ValueError(
            f"parameter 'tolerance': {text!r} is not a %FS or µmol/mol value ({exc})"
        ) from None
    if q.magnitude <= 0:
        raise ValueError("parameter 'tolerance': must be positive")
    if q >= span:
        raise ValueError(
            f"parameter 'tolerance': ±{q:~P} is not a plausible tolerance on a span "
            f"of {span:~P} (it must be below the full scale)"
        )
    return abs(q)


class GasAnalyzerCalibration(Procedure):
    """Calibration of CH4/CO2 analyzers (see the module docs)."""

    id = "gas-analyzer-cal"
    version = "2.0.0"
    title_zh = "甲烷、二氧化碳气体分析仪校准"
    title_en = "Calibration of CH4 / CO2 gas analyzers"
    kind = ServiceKind.CALIBRATION
    regulation = "实验室方法 CM-GAS-01 (lab method)"
    roles = GAS_ROLES
    under_test = "gas_analyzer"
    parameters = (
        Parameter("span", "量程 Full scale", like=FRACTION, item="span"),
        Parameter(
            "resolution",
            "分辨力 Display resolution",
            like=FRACTION,
            item="resolution",
            default="0.01 umol/mol",
        ),
        Parameter("zero_gas", "零点气 Zero gas (TAG@PORT)"),
        Parameter("gas_P20", "标准气体 20 %FS gas (TAG@PORT; value; U=...; k=...)"),
        Parameter("gas_P50", "标准气体 50 %FS gas (TAG@PORT; value; U=...; k=...)"),
        Parameter("gas_P80", "标准气体 80 %FS gas (TAG@PORT; value; U=...; k=...)"),
        Parameter(
            "decision_rule",
            "判定规则 Agreed ILAC G8 decision rule",
            required=False,
            item="decision_rule",
        ),
        Parameter(
            "tolerance",
            "允差 Agreed tolerance (±, %FS or µmol/mol)",
            required=False,
            item="tolerance",
        ),
    )
    table_file = "gas_analyzer_cal.toml"

    def plan(self, p: PlanningContext) -> None:
        """Span from the item, gases from the bench; the agreed rule needs its tolerance."""
        span = p.value("span")
        if span is None or span.magnitude <= 0:
            raise p.refuse("parameter span: the item registers no positive full scale")
        span = span.to(FRACTION)
        if not 0 < p.value("resolution").to(FRACTION).magnitude < span.magnitude:
            raise p.refuse("parameter resolution: must be positive and below the span")
        rule, tol = p.value("decision_rule"), p.value("tolerance")
        if rule:
            if rule not in DECISION_RULES or rule == JJF_1094.id:
                known = ", ".join(r for r in DECISION_RULES if r != JJF_1094.id)
                raise p.refuse(
                    f"parameter 'decision_rule': {rule!r} is not an ILAC G8 rule (known: {known})"
                )
            if not tol:
                raise p.refuse(
                    "parameter 'tolerance': a conformity statement needs the agreed tolerance "
                    "(register it with the item)"
                )
            parse_tolerance(tol, span)
        elif tol:
            raise p.refuse("parameter 'tolerance' given without a 'decision_rule'")
        plan_gases(p, span)

    def parse_parameters(self, raw: dict[str, str]) -> dict[str, Any]:
        """Validate the parameters: gases, and the decision rule with its tolerance."""
        parsed = super().parse_parameters(raw)
        parse_span_and_gases(self.table, parsed)
        if parsed.get("decision_rule") and parsed.get("tolerance"):
            parsed["tolerance"] = parse_tolerance(parsed["tolerance"], parsed["span"])
        return parsed

    def _uses(self, point: str) -> tuple[str, ...]:
        if self.run_plan is None:
            return ()
        return tuple(m.tag for m in self.run_plan.materials if m.purpose == point)

    def steps(self) -> Sequence[Step]:
        """setup, then one step per table point."""
        return [
            Step("setup", "准备 Setup", self.setup, check_environment=True),
            *(
                Step(
                    p.name,
                    f"校准点 Calibration point {p.name} ({display_quantity(p.nominal, 'g')})",
                    partial(self.calibration_point, name=p.name),
                    uses=self._uses(p.name),
                )
                for p in self.table.points
            ),
        ]

    def setup(self, ctx: StepContext) -> None:
        """Connect and warm up; start the gas flow."""
        ctx.confirm(
            "gas.analyzer_ready",
            "被校分析仪已预热并连接到配气仪出口",
            "The analyzer under calibration is warmed up and connected to the dilutor outlet",
        )
        ctx.confirm(
            "gas.zero_gas_connected",
            "零点气及标准气体钢瓶已按参数接入配气仪端口",
            "Zero gas and standard-gas cylinders are connected to the dilutor ports as listed",
        )
        ctx.instrument(GasDilutor, "dilutor").set_flow(ctx.table.limit("sample_flow"))

    def calibration_point(self, ctx: StepContext, name: str) -> None:
        """Settle, take the repeats, record error and U (and a verdict if agreed)."""
        span = ctx.parameters["span"]
        gas: GasSpec = ctx.parameters["gases"][name]
        table_point = next(p for p in ctx.table.points if p.name == name)
        m = measure_point(
            ctx,
            gas,
            name,
            criteria=criteria_from_table(ctx.table, span),
            repeats=table_point.repeats,
        )
        reference = gas.certified if gas.certified is not None else ureg.Quantity(0.0, FRACTION)
        indication = mean(m.repeats).to(FRACTION)
        error = (indication - reference).to(FRACTION)
        budget = error_budget(m.repeats, gas, ctx.parameters["resolution"], coverage=COVERAGE)
        extras = [
            Extra("error_fs", BiText("引用误差", "fiducial error"), as_fiducial(error, span)),
            Extra("n", BiText("测量次数", "repeats"), len(m.repeats)),
        ]
        if not gas.zero:
            extras += [
                Extra(
                    "relative_error",
                    BiText("相对误差", "relative error"),
                    relative_error(indication, reference),
                ),
                Extra(
                    "relative_U",
                    BiText("相对扩展不确定度", "relative U"),
                    (budget.expanded / reference).to("percent"),
                ),
            ]
        verdict, rule, limit = Verdict.NOT_STATED, None, None
        rule_id = ctx.parameters.get("decision_rule")
        if rule_id:
            limit = Limit(ctx.parameters["tolerance"], LimitKind.SYMMETRIC, "item.tolerance")
            decision = decide(rule_id, error, limit.value, budget.expanded)
            verdict, rule = decision.verdict, rule_id
        point = Point(name, point_label(name, table_point.nominal), reference)
        ctx.record(
            ResultRecord(
                point=point,
                characteristic=Characteristic.INDICATION_ERROR,
                value=error,
                form=ErrorForm.ABSOLUTE,
                reference=reference,
                indication=indication,
                limit=limit,
                uncertainty=Uncertainty.of(budget),
                verdict=verdict,
                decision_rule=rule,
                budget=StoredBudget.from_calc(budget),
                flags=() if m.stable else (ResultFlag.NOT_STABLE,),
                materials=(gas.tag,),
                extras=tuple(extras),
            ),
            readings=m.readings,
        )
        if not gas.zero:
            ctx.record(
                ResultRecord(
                    point=point,
                    characteristic=Characteristic.REPEATABILITY,
                    value=relative_standard_deviation(m.repeats),
                    form=ErrorForm.VALUE,
                    materials=(gas.tag,),
                    extras=(Extra("n", BiText("测量次数", "repeats"), len(m.repeats)),),
                ),
                readings=m.readings,
            )
