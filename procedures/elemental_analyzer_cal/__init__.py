"""Calibration of C/H/N/S elemental analyzers with certified reference substances
(JJF 1321-2011; the table's items are unverified).

For each reference substance of the table the operator weighs a sample (enters its mass
with unit), loads it, and the analyzer's result record is read; after n repeats each
element's mean mass fraction is compared with the certified value: error E = w̄ − w_cert,
repeatability as RSD, and U (k = 2) from the substance's certified U, the repeats (s/√n)
and the balance's resolution (w ∝ 1/m, so u_w = w̄·u_m/m). No pass/fail unless the item
asks for a conformity statement: then the agreed ILAC G8 rule and tolerance apply.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

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
from lims.models.enums import ServiceKind, Verdict
from procedures import common

__all__ = ["ElementalAnalyzerCal"]

SUBSTANCES = {
    "acetanilide": ("乙酰苯胺", "acetanilide_rm"),
    "sulfanilamide": ("磺胺", "sulfanilamide_rm"),
}


class ElementalAnalyzerCal(Procedure):
    """C/H/N/S elemental analyzer calibration."""

    id = "elemental-analyzer-cal"
    version = "1.0.0"
    title_zh = "元素分析仪校准"
    title_en = "Calibration of C/H/N/S elemental analyzers"
    kind = ServiceKind.CALIBRATION
    regulation = "JJF 1321-2011"
    roles: ClassVar[dict[str, str]] = {
        "analyzer": "elemental_analyzer",
        "env": "environment_monitor",
    }
    parameters = (
        Parameter("acetanilide_rm", "乙酰苯胺标准物质 Acetanilide CRM tag", None, "RM-ACET-01"),
        Parameter("sulfanilamide_rm", "磺胺标准物质 Sulfanilamide CRM tag", None, "RM-SULF-01"),
        Parameter(
            "reference_U",
            "标准物质认定值扩展不确定度 (k=2) CRM certified U (k=2)",
            "percent",
            "0.10 %",
        ),
        Parameter("balance_resolution", "天平分度值 Balance resolution", "mg", "0.001 mg"),
        Parameter("run_time", "分析时间 Analysis time per sample", "s", "300 s"),
        Parameter("decision_rule", "符合性判定规则 Agreed decision rule", None, None, False),
        Parameter("tolerance", "允差 Tolerance (mass fraction)", "percent", None, False),
    )
    table_file = "jjf1321.toml"

    @classmethod
    def source_sha256(cls) -> str:
        """SHA-256 over this module and the shared helpers it runs."""
        return common.combined_sha256(cls.source_path(), Path(common.__file__))

    def parse_parameters(self, raw: dict[str, str]) -> dict[str, Any]:
        """Validate; a conformity statement needs an ILAC G8 rule and a tolerance."""
        p = super().parse_parameters(raw)
        p["decision_rule"] = common.parse_decision_rule(p["decision_rule"], calibration=True)
        if (p["decision_rule"] is None) != (p["tolerance"] is None):
            raise ValueError(
                "parameters 'decision_rule' and 'tolerance': a conformity statement needs both"
            )
        for name in ("reference_U", "balance_resolution", "run_time"):
            if p[name].magnitude <= 0:
                raise ValueError(f"parameter {name!r}: must be positive")
        return p

    def substances(self) -> list[str]:
        """The reference substances of the table, in order."""
        out: list[str] = []
        for pt in self.table.points:
            name = pt.name.split(".")[0]
            if name not in out:
                out.append(name)
        return out

    def steps(self) -> Sequence[Step]:
        """One step per reference substance."""
        return [
            Step(s, f"{SUBSTANCES.get(s, (s,))[0]} {s}", self._substance_step(s))
            for s in self.substances()
        ]

    def _substance_step(self, substance: str) -> Callable[[StepContext], None]:
        def run(ctx: StepContext) -> None:
            self.measure_substance(ctx, substance)

        return run

    def measure_substance(self, ctx: StepContext, substance: str) -> None:
        """Weigh, load and read n samples of one substance; record each element's result."""
        p = ctx.parameters
        zh = SUBSTANCES.get(substance, (substance,))[0]
        points = [pt for pt in self.table.points if pt.name.split(".")[0] == substance]
        repeats = max(pt.repeats for pt in points)
        lo, hi = self.table.limit("sample_mass_min"), self.table.limit("sample_mass_max")
        analyzer = ctx.instrument("analyzer")
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
        for pt in points:
            values = [r.value.to("percent") for r in fractions[pt.name]]
            w_mean = mean(values)
            certified = pt.nominal.to("percent")
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
                    "天平 balance resolution",
                    p["balance_resolution"],
                    sensitivity=w_mean / m,
                ),
            ]
            budget = uncertainty_budget(
                error, components, measurand=f"E({pt.name})", coverage=Coverage.fixed(2.0)
            )
            values_out: dict[str, Any] = {
                "reference": certified,
                "indication": w_mean,
                "error": error,
                "error_relative": (error / certified).to("percent"),
                "repeatability": relative_standard_deviation(values),
                "U": budget.expanded,
                "k": budget.k,
                "n": len(values),
                "sample_mass": m,
                "reference_material": str(p[SUBSTANCES[substance][1]])
                if substance in SUBSTANCES
                else "",
                "unverified": ", ".join(
                    common.unverified_used(self.table, [f"points.{pt.name}", "repeats.analysis"])
                ),
            }
            verdict = Verdict.NOT_STATED
            if rule is not None:
                decision = decide(rule, error, p["tolerance"], budget.expanded)
                verdict = common.record_verdict(decision.verdict)
                values_out |= {"tolerance": p["tolerance"], **common.decision_values(decision)}
            ctx.record_result(
                pt.name,
                "indication_error",
                values_out,
                verdict=verdict,
                decision_rule=rule,
                readings=[*masses, *fractions[pt.name]],
                budget=common.budget_record(budget),
            )
        ctx.message(f"{substance}: {len(masses)} 次 runs, m̄ = {m:.4g~P}")
