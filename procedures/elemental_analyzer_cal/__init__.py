"""Calibration of C/H/N/S elemental analyzers with certified reference substances
(JJF 1321-2011; the table's items are unverified).

For each reference substance of the table the operator weighs a sample (enters its mass
with unit), loads it, and the analyzer's result record is read; after n repeats each
element's mean mass fraction is compared with the certified value: error E = w̄ − w_cert,
repeatability as RSD, and U (k = 2) from the substance's certified U, the repeats (s/√n)
and the balance's resolution (w ∝ 1/m, so u_w = w̄·u_m/m). No pass/fail unless the item
asks for a conformity statement: then the agreed ILAC G8 rule and tolerance apply.

Which lot of each substance is on the bench comes from the bench file (``[materials]``)
and its certificate from the register: a disposed, expired or exhausted lot refuses the
run; the balance is the lab's standard on the bench and is traced on the certificate.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

from drivers.roles import ElementalAnalyzer
from lims.calc import (
    Coverage,
    Distribution,
    absolute_error,
    decide,
    mean,
    relative_standard_deviation,
    resolution_component,
    type_a_component,
    type_b_half_width,
    uncertainty_budget,
)
from lims.engine import Parameter, Procedure, RecordedReading, Step, StepContext
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
from lims.services.planning import ParameterSource, PlanningContext
from lims.vocabulary import BiText, Verdict
from procedures import common

__all__ = ["ElementalAnalyzerCal"]

SUBSTANCES = {
    "acetanilide": ("乙酰苯胺", "acetanilide_rm"),
    "sulfanilamide": ("磺胺", "sulfanilamide_rm"),
}


def _label(point: str) -> BiText:
    substance, _, element = point.partition(".")
    zh = SUBSTANCES.get(substance, (substance,))[0]
    return BiText(f"{zh} {element}", f"{substance} {element}")


class ElementalAnalyzerCal(Procedure):
    """C/H/N/S elemental analyzer calibration."""

    id = "elemental-analyzer-cal"
    version = "2.0.0"
    title_zh = "元素分析仪校准"
    title_en = "Calibration of C/H/N/S elemental analyzers"
    kind = ServiceKind.CALIBRATION
    regulation = "JJF 1321-2011"
    roles: ClassVar[dict[str, str]] = {
        "analyzer": "elemental_analyzer",
        "env": "environment_monitor",
    }
    under_test = "elemental_analyzer"
    parameters = (
        Parameter("acetanilide_rm", "乙酰苯胺标准物质 Acetanilide CRM tag"),
        Parameter("sulfanilamide_rm", "磺胺标准物质 Sulfanilamide CRM tag"),
        Parameter(
            "reference_U",
            "标准物质认定值扩展不确定度 (k=2) CRM certified U (k=2)",
            "percent",
        ),
        Parameter("balance_resolution", "天平分度值 Balance resolution", "mg", "0.001 mg"),
        Parameter("run_time", "分析时间 Analysis time per sample", "s", "300 s"),
        Parameter(
            "decision_rule",
            "符合性判定规则 Agreed decision rule",
            required=False,
            item="decision_rule",
        ),
        Parameter(
            "tolerance",
            "允差 Tolerance (mass fraction)",
            "percent",
            required=False,
            item="tolerance",
        ),
    )
    table_file = "jjf1321.toml"

    @classmethod
    def source_sha256(cls) -> str:
        """SHA-256 over this module and the shared helpers it runs."""
        return common.combined_sha256(cls.source_path(), Path(common.__file__))

    # ------------------------------------------------------------------ plan

    def plan(self, p: PlanningContext) -> None:
        """The substances' lots from the bench and their certificates from the register;
        a conformity statement needs an ILAC G8 rule and a tolerance."""
        try:
            common.parse_decision_rule(p.value("decision_rule"), calibration=True)
        except ValueError as exc:
            raise p.refuse(str(exc)) from None
        if (p.value("decision_rule") is None) != (p.value("tolerance") is None):
            raise p.refuse(
                "parameters 'decision_rule' and 'tolerance': a conformity statement needs both "
                "(register them with the item)"
            )
        for name in ("balance_resolution", "run_time"):
            if p.value(name).magnitude <= 0:
                raise p.refuse(f"parameter {name!r}: must be positive")
        widest = None
        for substance in self.substances():
            tag = p.bench_material(substance)
            rec = p.register.material(tag)
            if substance.lower() not in rec.name.lower():
                raise p.refuse(
                    f"reference material {tag} is {rec.name}, not {substance}: put the right "
                    "lot on the bench or name it with --material"
                )
            p.use_material(tag, substance)
            param = SUBSTANCES[substance][1] if substance in SUBSTANCES else None
            if param is not None:
                p.set(param, tag, ParameterSource.BENCH, f"bench [materials] {substance}")
            u = (rec.expanded_uncertainty * 2.0 / rec.coverage_factor).to("percent")
            widest = u if widest is None or u > widest else widest
            for pt in self.table.points:
                if pt.name.split(".")[0] == substance:
                    p.add_point(pt.name, _label(pt.name), pt.nominal)
        p.use_standard(
            "balance",
            "mass",
            self.table.limit("sample_mass_min"),
            self.table.limit("sample_mass_max"),
        )
        if widest is not None:
            p.set(
                "reference_U",
                widest,
                ParameterSource.REGISTER,
                "largest certified U (k = 2) of the substances' certificates",
            )

    def parse_parameters(self, raw: dict[str, str]) -> dict[str, Any]:
        """Parse the plan's parameters (the rule checked against the known rules)."""
        p = super().parse_parameters(raw)
        p["decision_rule"] = common.parse_decision_rule(p["decision_rule"], calibration=True)
        return p

    def substances(self) -> list[str]:
        """The reference substances of the table, in order."""
        out: list[str] = []
        for pt in self.table.points:
            name = pt.name.split(".")[0]
            if name not in out:
                out.append(name)
        return out

    def _uses(self, substance: str) -> tuple[str, ...]:
        if self.run_plan is None:
            return ()
        return tuple(m.tag for m in self.run_plan.materials if m.purpose == substance)

    def steps(self) -> Sequence[Step]:
        """One step per reference substance."""
        return [
            Step(
                s,
                f"{SUBSTANCES.get(s, (s,))[0]} {s}",
                partial(self.measure_substance, s),
                uses=self._uses(s),
            )
            for s in self.substances()
        ]

    def measure_substance(self, substance: str, ctx: StepContext) -> None:
        """Weigh, load and read n samples of one substance; record each element's result."""
        p = ctx.parameters
        zh = SUBSTANCES.get(substance, (substance,))[0]
        points = [pt for pt in self.table.points if pt.name.split(".")[0] == substance]
        repeats = max(pt.repeats for pt in points)
        lo, hi = self.table.limit("sample_mass_min"), self.table.limit("sample_mass_max")
        analyzer = ctx.instrument(ElementalAnalyzer, "analyzer")
        masses: list[RecordedReading] = []
        fractions: dict[str, list[RecordedReading]] = {}
        for _ in range(repeats):
            ctx.enter_value(
                "ea.sample_mass",
                f"称量{zh}样品，输入质量",
                f"Weigh a sample of {substance} and enter its mass",
                like="mg",
                plausible=(lo, hi),
                test_point=substance,
            )
            masses.append(ctx.taken[-1])
            ctx.confirm(
                f"ea.load_{substance}",
                f"将{zh}样品放入进样器并启动分析",
                f"Load the {substance} sample and start the analysis",
            )
            ctx.wait(p["run_time"])
            result = analyzer.read_result()
            for pt in points:
                element = pt.name.split(".")[1]
                w = result.fractions.get(element)
                if w is None:
                    raise RuntimeError(
                        f"{substance}: 分析仪未给出 {element} the analyzer reported no {element}"
                    )
                fractions.setdefault(pt.name, []).append(
                    ctx.take_reading(f"w_{element}", w, source="analyzer", test_point=pt.name)
                )
        m = mean([r.value for r in masses]).to("mg")
        rule = p["decision_rule"]
        tag = next(iter(self._uses(substance)), "")
        for pt in points:
            self._record_element(ctx, pt.name, pt.nominal, masses, fractions[pt.name], m, rule, tag)
        ctx.message(f"{substance}: {len(masses)} 次 runs, m̄ = {m:.4g~P}")

    def _record_element(
        self,
        ctx: StepContext,
        name: str,
        nominal: Any,
        masses: list[RecordedReading],
        readings: list[RecordedReading],
        m: Any,
        rule: str | None,
        tag: str,
    ) -> None:
        p = ctx.parameters
        values = [r.value.to("percent") for r in readings]
        w_mean = mean(values)
        certified = nominal.to("percent")
        error = absolute_error(w_mean, certified)
        components = [
            type_b_half_width(
                "标准物质认定值 certified value (U, k=2)",
                p["reference_U"],
                Distribution.NORMAL,
                k=2.0,
            ),
            type_a_component("重复性 repeatability", values),
            resolution_component(
                "天平 balance resolution", p["balance_resolution"], sensitivity=w_mean / m
            ),
        ]
        budget = uncertainty_budget(
            error, components, measurand=f"E({name})", coverage=Coverage.fixed(2.0)
        )
        unverified = common.unverified_used(self.table, [f"points.{name}", "repeats.analysis"])
        flags = (ResultFlag.UNVERIFIED_LIMIT,) if unverified and rule is not None else ()
        verdict, limit = Verdict.NOT_STATED, None
        if rule is not None:
            limit = Limit(p["tolerance"], LimitKind.SYMMETRIC, "item.tolerance")
            verdict = decide(rule, error, limit.value, budget.expanded).verdict
        point = Point(name, _label(name), certified)
        n = Extra("n", BiText("测量次数", "repeats"), len(values))
        ctx.record(
            ResultRecord(
                point=point,
                characteristic=Characteristic.INDICATION_ERROR,
                value=error,
                form=ErrorForm.ABSOLUTE,
                reference=certified,
                indication=w_mean,
                limit=limit,
                uncertainty=Uncertainty.of(budget),
                verdict=verdict,
                decision_rule=rule,
                budget=StoredBudget.from_calc(budget),
                flags=flags,
                materials=(tag,) if tag else (),
                extras=(
                    Extra(
                        "relative_error",
                        BiText("相对误差", "relative error"),
                        (error / certified).to("percent"),
                    ),
                    Extra("sample_mass", BiText("平均称样量", "mean sample mass"), m),
                    n,
                ),
            ),
            readings=[*masses, *readings],
        )
        ctx.record(
            ResultRecord(
                point=point,
                characteristic=Characteristic.REPEATABILITY,
                value=relative_standard_deviation(values),
                form=ErrorForm.VALUE,
                materials=(tag,) if tag else (),
                extras=(n,),
            ),
            readings=readings,
        )
