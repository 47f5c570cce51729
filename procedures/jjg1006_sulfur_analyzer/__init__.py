"""JJG 1006: verification of coal total-sulfur analyzers (coulometric and infrared).

At each sulfur level of the table (a coal CRM at low, middle and high St) the operator
weighs n samples of the CRM on the lab's analytical balance (enters each mass with its
unit) and loads them; the analyzer's result records are read (coulometric: charge and St
on its RS-232 result port; infrared: Modbus registers). Per level:

1. **Indication error** E = S̄t − St_cert (absolute, mass fraction) against ±MPE, the MPE
   split at the table's threshold. U95 from a GTC budget (the CRM's certified U, the
   repeats s/√n and the balance: St ∝ 1/m, so u = S̄t·u_m/m); verdict per JJF 1094.
2. **Repeatability**: the range of the n determinations against the limit of that level.

Which CRM lot stands for which level comes from the bench (``[materials] low``,
``middle``, ``high``) and its certified value and U from the register; a lot whose value
does not lie in the level's band, or that is not a sulfur CRM, refuses the run. The CRMs
are consumed: each sample mass is a reading of the run and the results name the lot. The
analytical balance is the lab's standard on the bench (``use_standard``) and is traced on
the certificate.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

from drivers.roles import SulfurAnalyzer
from lims.calc import (
    JJF_1094,
    Coverage,
    Distribution,
    absolute_error,
    decide,
    mean,
    resolution_component,
    type_a_component,
    type_b_half_width,
    uncertainty_budget,
)
from lims.engine import Parameter, Procedure, RecordedReading, Step, StepContext
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
from lims.units import display_quantity, parse_quantity
from lims.vocabulary import BiText
from procedures import common

__all__ = ["LEVELS", "Jjg1006SulfurAnalyzer", "level_label"]

COVERAGE = Coverage.probability(0.95)  # JJF 1094 works with U95

#: sulfur level (table point) → (Chinese, English) name
LEVELS = {
    "low": ("低硫", "low sulfur"),
    "middle": ("中硫", "middle sulfur"),
    "high": ("高硫", "high sulfur"),
}


def level_label(level: str) -> BiText:
    """The bilingual label of a sulfur level (the point's nominal is the CRM's St)."""
    zh, en = LEVELS.get(level, (level, level))
    return BiText(zh, en)


def _limit(table: Any, key: str, kind: LimitKind = LimitKind.SYMMETRIC) -> Limit:
    return Limit(table.limit(key), kind, f"limits.{key}", table.limits[key].unverified)


class Jjg1006SulfurAnalyzer(Procedure):
    """Verification of coal total-sulfur analyzers to JJG 1006 (see the module docs)."""

    id = "jjg1006-sulfur-analyzer"
    version = "1.0.0"
    title_zh = "煤中全硫测定仪检定"
    title_en = "Verification of coal total-sulfur analyzers"
    kind = ServiceKind.VERIFICATION
    regulation = "JJG 1006-2005"
    roles: ClassVar[dict[str, str]] = {
        "analyzer": "sulfur_analyzer",
        "env": "environment_monitor",
    }
    under_test = "sulfur_analyzer"
    parameters = (
        Parameter("rm_low", "低硫煤标准物质 Low-sulfur coal CRM tag"),
        Parameter("rm_middle", "中硫煤标准物质 Middle-sulfur coal CRM tag"),
        Parameter("rm_high", "高硫煤标准物质 High-sulfur coal CRM tag"),
        Parameter("balance_resolution", "天平分度值 Balance resolution", "mg", "0.1 mg"),
        Parameter("run_time", "分析时间 Analysis time per sample", "s", "5 min"),
    )
    table_file = "jjg1006.toml"

    @classmethod
    def source_sha256(cls) -> str:
        """SHA-256 over this module and the shared helpers it runs."""
        return common.combined_sha256(cls.source_path(), Path(common.__file__))

    # ------------------------------------------------------------------ plan

    def band(self, level: str) -> tuple[Any | None, Any | None]:
        """The certified-St band a level's CRM must lie in (None: open)."""
        low_max, high_min = self.table.limit("low_max"), self.table.limit("high_min")
        return {
            "low": (None, low_max),
            "middle": (low_max, high_min),
            "high": (high_min, None),
        }[level]

    def plan(self, p: PlanningContext) -> None:
        """The CRM lots from the bench, their values from the register; the balance's use."""
        for name in ("balance_resolution", "run_time"):
            if p.value(name).magnitude <= 0:
                raise p.refuse(f"parameter {name!r}: must be positive")
        for pt in self.table.points:
            tag = p.bench_material(pt.name)
            rec = p.register.material(tag)
            try:
                certified = rec.certified.to("percent")
            except Exception:
                raise p.refuse(
                    f"reference material {tag} ({rec.name}) certifies "
                    f"{display_quantity(rec.certified, 'g')}, not a sulfur mass fraction"
                ) from None
            if rec.component.strip().upper() not in ("S", "ST"):
                raise p.refuse(
                    f"reference material {tag} is {rec.name} ({rec.component}), not a sulfur "
                    "CRM: put the right lot on the bench or name it with --material"
                )
            lo, hi = self.band(pt.name)
            if (lo is not None and certified < lo) or (hi is not None and certified > hi):
                band = f"{'' if lo is None else display_quantity(lo, 'g')} … " + (
                    "" if hi is None else display_quantity(hi, "g")
                )
                raise p.refuse(
                    f"reference material {tag}: St = {display_quantity(certified, 'g')} is not a "
                    f"{LEVELS[pt.name][1]} CRM (band {band.strip()}, table limits.low_max/high_min)"
                )
            p.use_material(tag, pt.name)
            p.set(f"rm_{pt.name}", tag, ParameterSource.BENCH, f"bench [materials] {pt.name}")
            p.add_point(pt.name, level_label(pt.name), certified)
        p.use_standard(
            "balance",
            "mass",
            self.table.limit("sample_mass_min"),
            self.table.limit("sample_mass_max"),
        )

    def _material(self, level: str) -> tuple[str, Any, Any, float]:
        """(tag, certified St, its U, k) of the level's CRM as planned."""
        if self.run_plan is None:
            raise RuntimeError("the procedure runs only with a plan")
        m = next(m for m in self.run_plan.materials if m.purpose == level)
        return (
            m.tag,
            parse_quantity(m.certified).to("percent"),
            parse_quantity(m.expanded_uncertainty).to("percent"),
            m.coverage_factor,
        )

    def _uses(self, level: str) -> tuple[str, ...]:
        if self.run_plan is None:
            return ()
        return tuple(m.tag for m in self.run_plan.materials if m.purpose == level)

    # ------------------------------------------------------------------ body

    def steps(self) -> Sequence[Step]:
        """Setup, then one step per sulfur level."""
        return [
            Step("setup", "准备 Setup", self.setup, check_environment=True),
            *(
                Step(
                    pt.name,
                    f"{LEVELS[pt.name][0]} {LEVELS[pt.name][1]}",
                    partial(self.measure_level, pt.name),
                    uses=self._uses(pt.name),
                )
                for pt in self.table.points
            ),
        ]

    def setup(self, ctx: StepContext) -> None:
        """The analyzer is conditioned (furnace at temperature, cell or detector ready)."""
        ctx.confirm(
            "sulfur.ready",
            "测硫仪已升温稳定，电解液/红外池已就绪，并已用非检定样品做过条件试验",
            "The analyzer is at temperature, its cell or IR detector ready, and conditioned "
            "with samples that are not counted",
        )

    def measure_level(self, level: str, ctx: StepContext) -> None:
        """Weigh and analyze n samples of the level's CRM; record error and repeatability."""
        p = ctx.parameters
        table_point = next(pt for pt in ctx.table.points if pt.name == level)
        tag, certified, big_u, k = self._material(level)
        lo, hi = ctx.table.limit("sample_mass_min"), ctx.table.limit("sample_mass_max")
        analyzer = ctx.instrument(SulfurAnalyzer, "analyzer")
        zh, en = LEVELS[level]
        masses: list[RecordedReading] = []
        values: list[RecordedReading] = []
        for _ in range(table_point.repeats):
            ctx.enter_value(
                "sulfur.sample_mass",
                f"称取{zh}煤标准物质样品，输入质量",
                f"Weigh a sample of the {en} coal CRM and enter its mass",
                like="mg",
                plausible=(lo, hi),
                test_point=level,
            )
            masses.append(ctx.taken[-1])
            ctx.confirm(
                f"sulfur.load_{level}",
                f"将{zh}煤标准物质样品放入进样舟并启动分析",
                f"Load the {en} coal CRM sample and start the analysis",
            )
            ctx.wait(p["run_time"])
            result = analyzer.read_result()
            values.append(
                ctx.take_reading("St", result.sulfur, source="analyzer", test_point=level)
            )
            ctx.take_reading(
                "sulfur.analyzer_mass", result.mass, source="analyzer", test_point=level
            )
            if result.raw is not None:
                ctx.take_reading("sulfur.raw", result.raw, source="analyzer", test_point=level)
        self._record(ctx, level, tag, certified, big_u, k, masses, values)

    def _record(
        self,
        ctx: StepContext,
        level: str,
        tag: str,
        certified: Any,
        big_u: Any,
        k: float,
        masses: list[RecordedReading],
        readings: list[RecordedReading],
    ) -> None:
        table = ctx.table
        st = [r.value.to("percent") for r in readings]
        st_mean = mean(st)
        m = mean([r.value for r in masses]).to("mg")
        error = absolute_error(st_mean, certified)
        high = certified > table.limit("threshold")
        budget = uncertainty_budget(
            error,
            [
                type_b_half_width(
                    "标准物质认定值 certified value", big_u, Distribution.NORMAL, k=k
                ),
                type_a_component("重复测定 repeats", st),
                resolution_component(
                    "天平分度值 balance resolution",
                    ctx.parameters["balance_resolution"],
                    sensitivity=st_mean / m,
                ),
            ],
            measurand=f"E({level})",
            coverage=COVERAGE,
        )
        mpe = _limit(table, "mpe_high" if high else "mpe_low")
        decision = decide(JJF_1094, error, mpe.value, budget.expanded)
        unverified = common.unverified_used(
            table, [mpe.table_key, "limits.threshold", f"points.{level}", "repeats.determination"]
        )
        flags = (ResultFlag.UNVERIFIED_LIMIT,) if unverified else ()
        if budget.expanded > mpe.value / 3:
            flags = (*flags, ResultFlag.METHOD_CANNOT_DECIDE)
        point = Point(level, level_label(level), certified)
        n = Extra("n", BiText("测定次数", "determinations"), len(st))
        ctx.record(
            ResultRecord(
                point=point,
                characteristic=Characteristic.INDICATION_ERROR,
                value=error,
                form=ErrorForm.ABSOLUTE,
                reference=certified,
                indication=st_mean,
                limit=mpe,
                uncertainty=Uncertainty.of(budget),
                verdict=decision.verdict,
                decision_rule=JJF_1094.id,
                budget=StoredBudget.from_calc(budget),
                flags=flags,
                materials=(tag,),
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
        spread = max(st) - min(st)
        limit = _limit(
            table, "repeatability_high" if high else "repeatability_low", LimitKind.UPPER
        )
        ctx.record(
            ResultRecord(
                point=point,
                characteristic=Characteristic.REPEATABILITY,
                value=spread,
                form=ErrorForm.VALUE,
                limit=limit,
                verdict=Verdict.PASS if spread <= limit.value else Verdict.FAIL,
                decision_rule="limit",
                flags=(ResultFlag.UNVERIFIED_LIMIT,) if limit.unverified else (),
                materials=(tag,),
                extras=(n,),
            ),
            readings=readings,
        )
        ctx.message(
            f"{LEVELS[level][0]} {level}: S̄t = {display_quantity(st_mean, '.4g')}, "
            f"E = {display_quantity(error, '.3g')}, "
            f"U95 = {display_quantity(budget.expanded, '.2g')}"
        )
