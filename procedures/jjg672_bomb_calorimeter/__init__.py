"""JJG 672-2018: verification of oxygen-bomb calorimeters (isothermal type).

The regulation's measuring items, in the order they are done:

1. **Energy equivalent** (热容量) E from n burns of a benzoic-acid CRM (certified specific
   energy Q with its U): per burn E_i = (Q·m·(1 + f) + q_ign) / Δt, m the pellet mass read
   from the lab's analytical balance (a traced standard), q_ign the ignition heat the
   operator enters, f the nitric-acid correction of the table, Δt the corrected rise the
   run computes from the instrument's temperature-rise curve by Regnault–Pfaundler. The
   result Ē carries a GTC budget (CRM, repeats, balance certificate and resolution,
   ignition heat); it is stated, not judged.
2. **Repeatability of the energy equivalent**: the RSD of the E_i against the limit.
3. **Indication error** on a check substance (a second benzoic-acid CRM lot burned as a
   sample): the instrument's own gross calorific values Q_ind (computed with the energy
   equivalent it stores) against the certified value, δ = (Q̄_ind − Q_cert)/Q_cert. U95
   from the check lot's certificate, the method's repeatability (the RSD of the E_i over
   √n of the check burns), the balance and the ignition heat; verdict per JJF 1094.

Each burn records its temperature-rise curve and every correction as readings
(:mod:`procedures.jjg672_bomb_calorimeter.burn`). Which CRM lots are used comes from the
bench (``[materials] benzoic_acid``, ``check_substance``) and their values from the
register; a lot outside the table's certified-value range, or with a relative U above the
table's maximum, refuses the run.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from drivers.roles import BombCalorimeter
from lims.calc import (
    JJF_1094,
    Coverage,
    Distribution,
    decide,
    mean,
    relative_error,
    relative_standard_deviation,
    resolution_component,
    type_a_component,
    type_b_half_width,
    uncertainty_budget,
)
from lims.calc.calorimetry import energy_equivalent
from lims.engine import Parameter, Procedure, Step, StepContext
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
from lims.units import display_quantity, parse_quantity, ureg
from lims.vocabulary import BiText
from procedures import common
from procedures.jjg672_bomb_calorimeter import burn as burn_module
from procedures.jjg672_bomb_calorimeter.burn import Burn, burn

__all__ = ["PURPOSES", "Jjg672BombCalorimeter"]

COVERAGE = Coverage.probability(0.95)  # JJF 1094 works with U95

#: bench material purpose → (Chinese, English) name, table point it serves
PURPOSES = {
    "benzoic_acid": ("苯甲酸标准物质", "benzoic-acid CRM", "energy_equivalent"),
    "check_substance": ("核查用苯甲酸", "check substance (benzoic acid)", "indication"),
}


def _limit(table: Any, key: str, kind: LimitKind = LimitKind.SYMMETRIC) -> Limit:
    return Limit(table.limit(key), kind, f"limits.{key}", table.limits[key].unverified)


def _flags(table: Any, keys: Sequence[str]) -> tuple[ResultFlag, ...]:
    return (ResultFlag.UNVERIFIED_LIMIT,) if common.unverified_used(table, keys) else ()


class Jjg672BombCalorimeter(Procedure):
    """Verification of oxygen-bomb calorimeters to JJG 672-2018 (see the module docs)."""

    id = "jjg672-bomb-calorimeter"
    version = "1.0.0"
    title_zh = "氧弹热量计检定"
    title_en = "Verification of oxygen-bomb calorimeters"
    kind = ServiceKind.VERIFICATION
    regulation = "JJG 672-2018"
    roles: ClassVar[dict[str, str]] = {
        "calorimeter": "bomb_calorimeter",
        "balance": "balance",
        "env": "environment_monitor",
    }
    under_test = "bomb_calorimeter"
    parameters = (
        Parameter("rm_benzoic_acid", "苯甲酸标准物质 Benzoic-acid CRM tag"),
        Parameter("rm_check_substance", "核查物质 Check-substance CRM tag"),
        Parameter(
            "balance_U",
            "天平扩展不确定度 (k=2) Balance expanded uncertainty (k=2)",
            "mg",
            "0.2 mg",
        ),
        Parameter("balance_resolution", "天平分度值 Balance resolution", "mg", "0.1 mg"),
        Parameter(
            "ignition_half_width",
            "点火热半宽 Half-width of the ignition heat",
            "J",
            "10 J",
        ),
    )
    table_file = "jjg672.toml"

    @classmethod
    def source_sha256(cls) -> str:
        """SHA-256 over this module, its burn module and the shared helpers."""
        return common.combined_sha256(
            cls.source_path(), Path(burn_module.__file__), Path(common.__file__)
        )

    # ------------------------------------------------------------------ plan

    def plan(self, p: PlanningContext) -> None:
        """The CRM lots from the bench, checked against the table; the balance's use."""
        for name in ("balance_U", "balance_resolution", "ignition_half_width"):
            if p.value(name).magnitude <= 0:
                raise p.refuse(f"parameter {name!r}: must be positive")
        lo, hi = self.table.limit("crm_value_min"), self.table.limit("crm_value_max")
        u_max = self.table.limit("crm_relative_U_max")
        for purpose, (zh, en, point) in PURPOSES.items():
            tag = p.bench_material(purpose)
            rec = p.register.material(tag)
            try:
                q = rec.certified.to("J/g")
            except Exception:
                raise p.refuse(
                    f"reference material {tag} ({rec.name}) certifies "
                    f"{display_quantity(rec.certified, 'g')}, not a specific energy (J/g)"
                ) from None
            if not lo <= q <= hi:
                raise p.refuse(
                    f"reference material {tag}: {zh} {en} certified "
                    f"{display_quantity(q, 'g')} lies outside {display_quantity(lo, 'g')} … "
                    f"{display_quantity(hi, 'g')} (table limits.crm_value_min/max)"
                )
            u_rel = (rec.expanded_uncertainty * 2.0 / rec.coverage_factor / rec.certified).to(
                "percent"
            )
            if u_rel > u_max:
                raise p.refuse(
                    f"reference material {tag}: relative U = {u_rel:.3g~P} (k=2) exceeds "
                    f"{display_quantity(u_max, 'g')} (table limits.crm_relative_U_max)"
                )
            p.use_material(tag, purpose)
            p.set(f"rm_{purpose}", tag, ParameterSource.BENCH, f"bench [materials] {purpose}")
            label = BiText(
                f"热容量（{zh} {display_quantity(q, 'g')}）", f"energy equivalent ({en})"
            )
            if point == "indication":
                label = BiText(f"示值（{zh} {display_quantity(q, 'g')}）", f"indication ({en})")
            p.add_point(point, label)
        stated = p.register.standard_uncertainty("balance")
        if stated is not None and stated[0].dimensionality == ureg.Quantity(1, "mg").dimensionality:
            u, k = stated
            p.set(
                "balance_U",
                (u * 2.0 / k).to("mg"),
                ParameterSource.REGISTER,
                "certificate of the balance on the bench (scaled to k = 2)",
            )
        p.use_standard(
            "balance",
            "mass",
            self.table.limit("pellet_mass_min"),
            self.table.limit("pellet_mass_max"),
        )

    def _material(self, purpose: str) -> tuple[str, Any, Any, float]:
        """(tag, certified Q, its U, k) of the CRM planned for ``purpose``."""
        if self.run_plan is None:
            raise RuntimeError("the procedure runs only with a plan")
        m = next(m for m in self.run_plan.materials if m.purpose == purpose)
        return (
            m.tag,
            parse_quantity(m.certified).to("J/g"),
            parse_quantity(m.expanded_uncertainty).to("J/g"),
            m.coverage_factor,
        )

    def _point(self, key: str) -> Point:
        """The planned test point ``key`` as a result's point (its planned label)."""
        planned = (
            next((pt for pt in self.run_plan.points if pt.key == key), None)
            if (self.run_plan is not None)
            else None
        )
        label = planned.label if planned is not None else BiText(key, key)
        return Point(key, label)

    def _uses(self, purpose: str) -> tuple[str, ...]:
        if self.run_plan is None:
            return ()
        return tuple(m.tag for m in self.run_plan.materials if m.purpose == purpose)

    # ------------------------------------------------------------------ body

    def steps(self) -> Sequence[Step]:
        """Setup; the energy-equivalent burns; the check-substance burns."""
        return [
            Step("setup", "准备 Setup", self.setup, check_environment=True),
            Step(
                "energy_equivalent",
                "热容量标定 Energy equivalent with benzoic acid",
                self.energy_equivalent,
                uses=self._uses("benzoic_acid"),
                check_environment=True,
            ),
            Step(
                "indication",
                "示值误差 Indication error on the check substance",
                self.indication,
                uses=self._uses("check_substance"),
                check_environment=True,
            ),
        ]

    def setup(self, ctx: StepContext) -> None:
        """The bomb is filled with oxygen and the inner vessel with water; record what the
        instrument stores as its energy equivalent."""
        ctx.confirm(
            "bomb.ready",
            "热量计已开机稳定，内筒加水，氧弹充氧方法与日常测定一致",
            "The calorimeter is on and stable, the inner vessel filled, the bomb charged with "
            "oxygen as in routine determinations",
        )
        cal = ctx.instrument(BombCalorimeter, "calorimeter")
        ctx.take_reading(
            "bomb.stored_energy_equivalent",
            cal.energy_equivalent(),
            source="calorimeter",
            test_point="setup",
        )

    def _burns(self, ctx: StepContext, point: str, purpose: str, load_key: str) -> list[Burn]:
        zh, en, _ = PURPOSES[purpose]
        n = next(pt.repeats for pt in ctx.table.points if pt.name == point)
        out = []
        limit = ctx.table.limit("ambient_fluctuation")
        for i in range(1, n + 1):
            b = burn(ctx, f"{point}.{i}", load_key=load_key, substance_zh=zh, substance_en=en)
            if b.ambient_change > limit:
                ctx.message(
                    f"{b.test_point}: 室温变化 room temperature changed by "
                    f"{display_quantity(b.ambient_change, '.2g')} during the burn (limit "
                    f"{display_quantity(limit, 'g')})",
                    "warning",
                )
            out.append(b)
        return out

    def _mass_components(self, ctx: StepContext, sensitivity: Any) -> list[Any]:
        p = ctx.parameters
        return [
            type_b_half_width(
                "天平校准 balance certificate (U, k=2)",
                p["balance_U"],
                Distribution.NORMAL,
                k=2.0,
                sensitivity=sensitivity,
            ),
            resolution_component(
                "天平分度值 balance resolution", p["balance_resolution"], sensitivity=sensitivity
            ),
        ]

    def energy_equivalent(self, ctx: StepContext) -> None:
        """n benzoic-acid burns → E_i; record Ē with its U and the RSD against the limit."""
        tag, q_cert, big_u, k = self._material("benzoic_acid")
        f = ctx.table.limit("acid_fraction")
        burns = self._burns(ctx, "energy_equivalent", "benzoic_acid", "bomb.load_pellet")
        values = []
        for b in burns:
            m, q_ign = b.mass.value.to("g"), b.ignition.value.to("J")
            ctx.take_reading(
                "bomb.acid_heat",
                (q_cert * m * f).to("J"),
                source="procedure",
                test_point=b.test_point,
            )
            e = energy_equivalent(q_cert, m, q_ign, b.rise.rise, f)
            values.append(
                ctx.take_reading(
                    "bomb.energy_equivalent", e, source="procedure", test_point=b.test_point
                )
            )
        es = [r.value.to("J/K") for r in values]
        e_mean = mean(es)
        m_mean = mean([b.mass.value for b in burns]).to("g")
        dt_mean = mean([b.rise.rise for b in burns]).to("K")
        components = [
            type_b_half_width(
                "苯甲酸认定值 certified specific energy",
                big_u,
                Distribution.NORMAL,
                k=k,
                sensitivity=e_mean / q_cert,
            ),
            type_a_component("重复测定 repeats", es),
            *self._mass_components(ctx, e_mean / m_mean),
            type_b_half_width(
                "点火热 ignition heat",
                ctx.parameters["ignition_half_width"],
                Distribution.RECTANGULAR,
                sensitivity=1 / dt_mean,
            ),
        ]
        budget = uncertainty_budget(
            e_mean, components, measurand="E (energy equivalent)", coverage=COVERAGE
        )
        cal = ctx.instrument(BombCalorimeter, "calorimeter")
        stored = cal.energy_equivalent().to("J/K")
        readings = [r for b in burns for r in b.readings] + values
        n = Extra("n", BiText("测定次数", "burns"), len(es))
        ctx.record(
            ResultRecord(
                point=self._point("energy_equivalent"),
                characteristic=Characteristic.ENERGY_EQUIVALENT,
                value=e_mean,
                form=ErrorForm.VALUE,
                uncertainty=Uncertainty.of(budget),
                budget=StoredBudget.from_calc(budget),
                materials=(tag,),
                extras=(
                    Extra("stored", BiText("仪器存储热容量", "energy equivalent stored"), stored),
                    Extra(
                        "stored_deviation",
                        BiText("存储值相对偏差", "stored value's relative deviation"),
                        relative_error(stored, e_mean),
                    ),
                    Extra("rise", BiText("平均校正温升", "mean corrected rise"), dt_mean),
                    Extra("sample_mass", BiText("平均片重", "mean pellet mass"), m_mean),
                    n,
                ),
            ),
            readings=readings,
        )
        rsd = relative_standard_deviation(es)
        limit = _limit(ctx.table, "ee_repeatability", LimitKind.UPPER)
        ctx.record(
            ResultRecord(
                point=self._point("energy_equivalent"),
                characteristic=Characteristic.REPEATABILITY,
                value=rsd,
                form=ErrorForm.VALUE,
                limit=limit,
                verdict=Verdict.PASS if rsd <= limit.value else Verdict.FAIL,
                decision_rule="limit",
                flags=_flags(ctx.table, ["limits.ee_repeatability", "repeats.energy_equivalent"]),
                materials=(tag,),
                extras=(n,),
            ),
            readings=values,
        )
        ctx.message(
            f"热容量 E = {display_quantity(e_mean, '.6g')}, RSD = {display_quantity(rsd, '.2g')}, "
            f"stored {display_quantity(stored, '.6g')}"
        )

    def indication(self, ctx: StepContext) -> None:
        """n check-substance burns; the instrument's calorific values against the certified."""
        tag, q_cert, big_u, k = self._material("check_substance")
        burns = self._burns(ctx, "indication", "check_substance", "bomb.load_check")
        q_ind = [b.indication.value.to("J/g") for b in burns]
        q_mean = mean(q_ind)
        delta = relative_error(q_mean, q_cert).to("percent")
        ee = [r.value.to("J/K") for r in ctx.readings(quantity="bomb.energy_equivalent")]
        if len(ee) < 2:
            raise RuntimeError("指示误差需要热容量测定 the indication error needs the E burns")
        e_mean = mean(ee)
        m_mean = mean([b.mass.value for b in burns]).to("g")
        rel = ureg.Quantity(100.0, "percent")
        components = [
            type_b_half_width(
                "核查物质认定值 certified value of the check substance",
                big_u,
                Distribution.NORMAL,
                k=k,
                sensitivity=(rel / q_cert).to("percent/(J/g)"),
            ),
            type_a_component(
                "方法重复性 method repeatability (E burns, per check burn)",
                [(e / e_mean).to("percent") for e in ee],
                sensitivity=math.sqrt(len(ee) / len(burns)),
            ),
            *self._mass_components(ctx, (rel / m_mean).to("percent/mg")),
            type_b_half_width(
                "点火热 ignition heat",
                ctx.parameters["ignition_half_width"],
                Distribution.RECTANGULAR,
                sensitivity=(rel / (q_cert * m_mean)).to("percent/J"),
            ),
        ]
        budget = uncertainty_budget(delta, components, measurand="δ(Q)", coverage=COVERAGE)
        mpe = _limit(ctx.table, "indication_error")
        decision = decide(JJF_1094, delta, mpe.value, budget.expanded)
        flags = _flags(ctx.table, ["limits.indication_error", "repeats.indication"])
        if budget.expanded > mpe.value / 3:
            flags = (*flags, ResultFlag.METHOD_CANNOT_DECIDE)
        ctx.record(
            ResultRecord(
                point=self._point("indication"),
                characteristic=Characteristic.INDICATION_ERROR,
                value=delta,
                form=ErrorForm.RELATIVE,
                reference=q_cert,
                indication=q_mean,
                limit=mpe,
                uncertainty=Uncertainty.of(budget),
                verdict=decision.verdict,
                decision_rule=JJF_1094.id,
                budget=StoredBudget.from_calc(budget),
                flags=flags,
                materials=(tag,),
                extras=(
                    Extra("error", BiText("示值误差（绝对）", "absolute error"), q_mean - q_cert),
                    Extra("n", BiText("测定次数", "burns"), len(burns)),
                ),
            ),
            readings=[r for b in burns for r in b.readings],
        )
        ctx.message(
            f"示值误差 δ = {display_quantity(delta, '.3g')}, "
            f"U95 = {display_quantity(budget.expanded, '.2g')}"
        )
