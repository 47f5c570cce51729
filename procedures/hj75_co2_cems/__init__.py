"""CO2 CEMS on site: HJ 75-2017 / HJ 76-2017 and the provincial CO2-CEMS specifications
(JJF(粤)081-2025, JJF(晋)148-2025).

The tests, in the order they are run at the stack:

1. **Indication error** with the lab's standard gases fed through the probe (calibration
   valve open, portable dilutor): zero gas and gases near 30, 60 and 80 %FS, repeats each
   the mean over the averaging time; δ = (x̄ − x_s)/x_s against ±``indication_error``, U
   (95 %) from the repeats, the gas certificate and the resolution, JJF 1094. The zero
   gas's indication is reported without a verdict.
2. **System response time** through the probe: zero gas until stable, a step to the span
   gas (80 %FS), T90 ≤ ``t90`` (as JJG 635 measures it).
3. **Relative accuracy** against the reference method: ``repeats.pairs`` paired data sets
   (see :mod:`procedures.hj75_co2_cems.pairs`); RA = (|d̄| + |cc|)/RM̄ with the confidence
   coefficient cc = t(0.975, n − 1)·S_d/√n, for CO2 (≤ ``relative_accuracy_co2``) and for
   the flue-gas velocity (≤ ``flow_error_high`` above ``velocity_threshold``, else
   ``flow_error_low``). The CO2 emission rate over the test (t/h) follows from the CEMS's
   CO2 and dry standard flow, with its uncertainty (no verdict).
4. **Zero and span drift** over ``drift_interval``: zero and span gas through the probe at
   the start, the CEMS back on flue gas for the interval, zero and span again; drift in
   %FS against ±``zero_drift`` / ±``span_drift``, JJF 1094.

The range and resolution are the item's; which cylinder feeds which point comes from the
bench and the register; the reference analyzer's U from its certificate. The gas steps are
those of JJG 635 (:mod:`procedures.jjg635`) run through the CEMS's probe.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

from drivers.roles import CemsAnalyzer
from lims.calc import as_relative, decide, mean
from lims.calc.cems import emission_rate, relative_accuracy
from lims.engine import Parameter, Step, StepContext
from lims.models.enums import ServiceKind, Verdict
from lims.results import (
    Characteristic,
    ErrorForm,
    Extra,
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
from procedures.hj75_co2_cems import pairs as pair_data
from procedures.jjg635 import COVERAGE, Jjg635, _flags, _limit
from procedures.jjg635 import gas as gas_steps
from procedures.jjg635.gas import FRACTION, GasSpec, criteria_from_table, error_budget

__all__ = ["Hj75Co2Cems"]

VOL = "percent_vol"  # CO2 as a volume fraction in %vol (an absolute fraction, not a ratio)
CO2_RA = Point("co2_ra", BiText("CO2 相对准确度", "CO2 relative accuracy"))
FLOW_RA = Point("flow_ra", BiText("流速相对准确度", "velocity relative accuracy"))
EMISSION = Point("emission", BiText("CO2 排放速率", "CO2 emission rate"))


class Hj75Co2Cems(Jjg635):
    """CO2 CEMS test on site (HJ 75/76 and the provincial specifications; module docs)."""

    id = "hj75-co2-cems"
    version = "1.0.0"
    title_zh = "固定污染源二氧化碳排放连续监测系统现场检测"
    title_en = "On-site test of CO2 continuous emission monitoring systems"
    kind = ServiceKind.VERIFICATION
    regulation = "HJ 75-2017 / HJ 76-2017; JJF(粤)081-2025"
    roles: ClassVar[dict[str, str]] = {
        "analyzer": "cems_analyzer",
        "flow": "flow_monitor",
        "dilutor": "gas_dilutor",
        "reference": "gas_analyzer",
        "probe": "stack_probe",
        "env": "environment_monitor",
    }
    under_test = "cems_analyzer"
    parameters = (  # type: ignore[assignment]  # JJG 635's tuple has its own gas points
        Parameter("span", "量程 Full scale", like=FRACTION, item="span"),
        Parameter(
            "resolution",
            "分辨力 Display resolution",
            like=FRACTION,
            item="resolution",
            default="0.01 %vol",
        ),
        Parameter("zero_gas", "零点气 Zero gas (TAG@PORT)"),
        Parameter("gas_P30", "标准气体 30 %FS gas (TAG@PORT; value; U=...; k=...)"),
        Parameter("gas_P60", "标准气体 60 %FS gas (TAG@PORT; value; U=...; k=...)"),
        Parameter("gas_P80", "标准气体 80 %FS gas (TAG@PORT; value; U=...; k=...)"),
        Parameter(
            "reference_U",
            "参比分析仪相对扩展不确定度 (k=2) Reference analyzer's U (k=2)",
            "percent",
            "1 %",
        ),
        Parameter(
            "probe_U",
            "皮托管流速相对扩展不确定度 (k=2) Probe velocity U (k=2)",
            "percent",
            table="probe_U",
        ),
        Parameter("traverse_points", "测点数 Traverse points", item="traverse_points", default="8"),
    )
    table_file = "hj75_co2.toml"
    SPAN_POINT = "P80"

    @classmethod
    def source_sha256(cls) -> str:
        """SHA-256 over this module, its pairs and the JJG 635 gas steps it runs."""
        here = Path(__file__).resolve().parent
        jjg635 = Path(gas_steps.__file__).resolve().parent
        return common.combined_sha256(
            here / "__init__.py", here / "pairs.py", jjg635 / "__init__.py", jjg635 / "gas.py"
        )

    # ------------------------------------------------------------------ plan

    def plan(self, p: PlanningContext) -> None:
        """Gases as JJG 635 plans them; the reference analyzer's U from its certificate."""
        super().plan(p)
        stated = p.register.standard_uncertainty("gas_analyzer")
        if stated is not None:
            u, k = stated
            if u.dimensionality == ureg.percent.dimensionality:
                p.set(
                    "reference_U",
                    (u * 2.0 / k).to("percent"),
                    ParameterSource.REGISTER,
                    "certificate of the reference analyzer on the bench (scaled to k = 2)",
                )
        points = str(p.value("traverse_points")).strip()
        if not points.isdigit() or not 1 <= int(points) <= 48:
            raise p.refuse(
                f"parameter traverse_points: {points!r} is not a number of points from 1 to 48"
            )
        span = p.value("span").to(FRACTION)
        p.use_standard("gas_analyzer", "amount fraction", span * 0, span)
        for point in (CO2_RA, FLOW_RA, EMISSION):
            p.add_point(point.key, point.label)

    def parse_parameters(self, raw: dict[str, str]) -> dict[str, Any]:
        """The JJG 635 gases, and the number of traverse points as an integer."""
        parsed = super().parse_parameters(raw)
        text = str(parsed["traverse_points"]).strip()
        if not text.isdigit() or not 1 <= int(text) <= 48:
            raise ValueError(
                f"parameter 'traverse_points': {text!r} is not a number of points from 1 to 48"
            )
        parsed["traverse_points"] = int(text)
        return parsed

    # ------------------------------------------------------------------ body

    def steps(self) -> Sequence[Step]:
        """Setup; indication error per gas; T90; relative accuracy; drift start and end."""
        both = self._uses("zero", self.SPAN_POINT)
        return [
            Step("setup", "准备 Setup at the stack", self.setup),
            *(
                Step(
                    p.name,
                    f"示值误差 Indication error at {p.name} (through the probe)",
                    partial(self.indication_point, name=p.name),
                    uses=self._uses(p.name),
                )
                for p in self.table.points
            ),
            Step("response_time", "系统响应时间 System response time", self.response, uses=both),
            Step("relative_accuracy", "相对准确度 Relative accuracy", self.relative_accuracy),
            Step("drift_start", "漂移起点 Drift: initial readings", self.drift_start, uses=both),
            Step("drift_end", "漂移终点 Drift: after the interval", self.drift_end, uses=both),
        ]

    def _valve(self, ctx: StepContext, open_: bool) -> None:
        ctx.instrument(CemsAnalyzer, "analyzer").set_calibration_valve(open_)

    def _purge(self, ctx: StepContext, port: int) -> None:
        """Feed the gas of ``port`` through the probe for the table's purge time."""
        gas_steps.feed(ctx, port)
        ctx.wait(ctx.table.limit("purge_time"))

    def setup(self, ctx: StepContext) -> None:
        """Probe connected to the dilutor; the environment on site read."""
        ctx.confirm(
            "cems.ready",
            "便携式配气仪已接至CEMS探头校准气入口；参比分析仪、皮托管已就位",
            "The portable dilutor feeds the CEMS probe's calibration inlet; the reference "
            "analyzer and the pitot probe are ready",
        )
        for method, quantity in (
            ("read_temperature", "env.temperature"),
            ("read_humidity", "env.humidity"),
            ("read_pressure", "env.pressure"),
        ):
            ctx.measure("env", method, quantity, test_point="site")

    def indication_point(self, ctx: StepContext, name: str) -> None:
        """Standard gas through the probe: the relative indication error (zero: reported)."""
        self._valve(ctx, True)
        span = ctx.parameters["span"]
        gas: GasSpec = ctx.parameters["gases"][name]
        table_point = next(p for p in ctx.table.points if p.name == name)
        self._purge(ctx, gas.port)
        m = gas_steps.measure_point(
            ctx,
            gas,
            name,
            criteria=criteria_from_table(ctx.table, span),
            repeats=table_point.repeats,
        )
        indication = mean(m.repeats).to(VOL)
        budget = error_budget(m.repeats, gas, ctx.parameters["resolution"], coverage=COVERAGE)
        point = Point(name, gas_steps.point_label(name, table_point.nominal), gas.certified)
        n = Extra("n", BiText("测量次数", "repeats"), len(m.repeats))
        if gas.certified is None:
            ctx.record(
                ResultRecord(
                    point=Point(name, point.label, ureg.Quantity(0.0, VOL)),
                    characteristic=Characteristic.INDICATION_ERROR,
                    value=indication,
                    form=ErrorForm.ABSOLUTE,
                    reference=ureg.Quantity(0.0, VOL),
                    indication=indication,
                    uncertainty=Uncertainty(
                        budget.expanded.to(VOL), budget.k, budget.p or 0.95, budget.dof_eff
                    ),
                    budget=StoredBudget.from_calc(budget),
                    materials=(gas.tag,),
                    extras=(n,),
                ),
                readings=m.readings,
            )
            return
        reference = gas.certified.to(VOL)
        error = as_relative(indication - reference, reference)
        big_u = as_relative(budget.expanded.to(VOL), reference)
        limit = _limit(ctx, "indication_error")
        decision = decide(ctx.table.decision_rule.value, error, limit.value, big_u)
        ctx.record(
            ResultRecord(
                point=Point(name, point.label, reference),
                characteristic=Characteristic.INDICATION_ERROR,
                value=error,
                form=ErrorForm.RELATIVE,
                reference=reference,
                indication=indication,
                limit=limit,
                uncertainty=Uncertainty(big_u, budget.k, budget.p or 0.95, budget.dof_eff),
                verdict=decision.verdict,
                decision_rule=ctx.table.decision_rule.value,
                budget=StoredBudget.from_calc(budget),
                flags=_flags(limit, m.stable),
                materials=(gas.tag,),
                extras=(
                    Extra(
                        "error",
                        BiText("示值误差（绝对）", "absolute error"),
                        indication - reference,
                    ),
                    Extra(
                        "U", BiText("扩展不确定度（绝对）", "absolute U"), budget.expanded.to(VOL)
                    ),
                    n,
                ),
            ),
            readings=m.readings,
        )

    def response(self, ctx: StepContext) -> None:
        """T90 through the probe (the JJG 635 step with the calibration valve open)."""
        self._valve(ctx, True)
        super().response(ctx)

    def _drift_readings(self, ctx: StepContext, tag: str) -> dict[str, list[Any]]:
        self._valve(ctx, True)
        gases = ctx.parameters["gases"]
        criteria = criteria_from_table(ctx.table, ctx.parameters["span"])
        out: dict[str, list[Any]] = {}
        for key, gas in (("zero", gases["zero"]), ("span", gases[self.SPAN_POINT])):
            self._purge(ctx, gas.port)
            m = gas_steps.measure_point(ctx, gas, f"{tag}.{key}", criteria=criteria, repeats=3)
            out[key] = m.repeats
        return out

    def drift_start(self, ctx: StepContext) -> None:
        """Zero and span through the probe; then the CEMS samples the flue gas again."""
        super().drift_start(ctx)
        self._valve(ctx, False)

    def drift_end(self, ctx: StepContext) -> None:
        """After the interval on flue gas: zero and span again, both drifts judged."""
        self._valve(ctx, False)
        super().drift_end(ctx)
        self._valve(ctx, False)

    # ------------------------------------------------------------------ 3: RA

    def relative_accuracy(self, ctx: StepContext) -> None:
        """Paired data sets against the reference method; RA of CO2 and velocity; E."""
        self._valve(ctx, False)
        ctx.wait(ctx.table.limit("purge_time"))  # the probe and line full of flue gas again
        p = ctx.parameters
        pairs = pair_data.take_pairs(ctx, ctx.table.repeat_count("pairs"), p["traverse_points"])
        confidence = float(ctx.table.limit("confidence_level").to("").magnitude)
        co2 = relative_accuracy(pairs.means["reference_co2"], pairs.means["cems_co2"], confidence)
        vel = relative_accuracy(
            pairs.means["reference_velocity"], pairs.means["cems_velocity"], confidence
        )
        flow_key = (
            "flow_error_high"
            if vel.mean_reference > ctx.table.limit("velocity_threshold")
            else "flow_error_low"
        )
        mean_error = as_relative(-vel.mean_difference, vel.mean_reference)
        for point, ra, key, extra in (
            (CO2_RA, co2, "relative_accuracy_co2", ()),
            (
                FLOW_RA,
                vel,
                flow_key,
                (Extra("mean_error", BiText("平均相对误差", "mean relative error"), mean_error),),
            ),
        ):
            limit = _limit(ctx, key, LimitKind.UPPER)
            keys = [f"limits.{key}", "limits.confidence_level", "repeats.pairs"]
            flagged = common.unverified_used(ctx.table, keys)
            ctx.record(
                ResultRecord(
                    point=point,
                    characteristic=Characteristic.RELATIVE_ACCURACY,
                    value=ra.relative_accuracy,
                    form=ErrorForm.VALUE,
                    limit=limit,
                    verdict=Verdict.PASS if ra.relative_accuracy <= limit.value else Verdict.FAIL,
                    decision_rule="limit",
                    flags=(ResultFlag.UNVERIFIED_LIMIT,) if flagged else (),
                    extras=(
                        Extra("n", BiText("数据对数", "paired data sets"), ra.n),
                        Extra(
                            "mean_reference", BiText("参比方法均值", "RM mean"), ra.mean_reference
                        ),
                        Extra(
                            "mean_difference",
                            BiText("差值均值 d̄", "mean difference d̄"),
                            ra.mean_difference,
                        ),
                        Extra("sd_difference", BiText("差值标准偏差 S_d", "S_d"), ra.sd_difference),
                        Extra("t", BiText("t 值", "t value"), f"{ra.t_value:.4f}"),
                        Extra(
                            "cc",
                            BiText("置信系数", "confidence coefficient"),
                            ra.confidence_coefficient,
                        ),
                        *extra,
                    ),
                ),
                readings=[r for r in pairs.readings if r.quantity.startswith("pair.")],
            )
        self._record_emission(ctx, pairs)

    def _record_emission(self, ctx: StepContext, pairs: pair_data.PairSet) -> None:
        p = ctx.parameters
        inputs = pair_data.emission_inputs(
            pairs,
            float((p["reference_U"] / 2).to("").magnitude),
            float((p["probe_U"] / 2).to("").magnitude),
        )
        rate = emission_rate(
            inputs.co2,
            inputs.u_co2,
            inputs.flow,
            inputs.u_flow,
            dof_co2=inputs.dof_co2,
            dof_flow=inputs.dof_flow,
            coverage_probability=0.95,
        )
        ctx.record(
            ResultRecord(
                point=EMISSION,
                characteristic=Characteristic.EMISSION_RATE,
                value=rate.value,
                form=ErrorForm.VALUE,
                uncertainty=Uncertainty(rate.expanded_uncertainty, rate.k, 0.95, rate.dof),
                extras=(
                    Extra("co2", BiText("CO2 体积分数（干基）", "CO2 (dry)"), inputs.co2),
                    Extra("u_co2", BiText("u(CO2)", "u(CO2)"), inputs.u_co2),
                    Extra("flow", BiText("干烟气标况流量", "dry standard flow"), inputs.flow),
                    Extra("u_flow", BiText("u(流量)", "u(flow)"), inputs.u_flow),
                    *(
                        Extra(f"u_{i}", BiText(f"分量 {name}", f"component {name}"), u)
                        for i, (name, u) in enumerate(rate.budget)
                    ),
                ),
            ),
            readings=[r for r in pairs.readings if r.quantity.startswith("pair.")],
        )
