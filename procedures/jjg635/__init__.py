"""JJG 635-2011: verification of CO / CO2 infrared (NDIR) gas analyzers.

The regulation's items, in its order:

1. **Indication error** at zero gas and standard gases near 20, 50 and 80 %FS: after the
   indication is stable, 3 repeats (each the mean over the averaging time); the error is
   fiducial, δ = (x̄ − x_s)/R × 100 %FS against ±MPE; U from a GTC budget (repeatability,
   gas certificate, display resolution) at 95 %; verdict per JJF 1094.
2. **Repeatability** at each standard gas: the relative standard deviation of the repeats,
   RSD ≤ limit.
3. **Response time T90**: zero gas until stable, a step to the span gas, sampled until
   stable; T90 is when the indication first reaches 90 % of the step; T90 ≤ limit.
4. **Zero and span drift**: zero and span gas at the start of the table's interval and at
   its end; the largest change (span drift less the zero's) in %FS against ±limit.

The span R, the display resolution and the component are the item's registered data;
which cylinder feeds which point comes from the bench and the register (the run's plan).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

from drivers.roles import GasAnalyzer, GasDilutor
from lims.calc import (
    JJF_1094,
    Coverage,
    as_fiducial,
    decide,
    fiducial_error,
    mean,
    relative_standard_deviation,
    response_time,
    span_drift,
    type_a_component,
    uncertainty_budget,
    zero_drift,
)
from lims.calc import resolution_component as _resolution
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
from lims.services.planning import PlanningContext
from lims.units import display_quantity, ureg
from lims.vocabulary import BiText
from procedures.jjg635.gas import (
    FRACTION,
    GAS_ROLES,
    GasSpec,
    criteria_from_table,
    error_budget,
    feed,
    measure_point,
    parse_span_and_gases,
    plan_gases,
    point_label,
    settle,
)

__all__ = ["Jjg635"]

COVERAGE = Coverage.probability(0.95)  # JJF 1094 works with U95

T90_POINT = Point("T90", BiText("零点气→量程气", "zero → span gas"))


def _limit(ctx: StepContext, key: str, kind: LimitKind = LimitKind.SYMMETRIC) -> Limit:
    """A limit of the table with where it comes from and whether it is checked."""
    return Limit(ctx.table.limit(key), kind, f"limits.{key}", ctx.table.limits[key].unverified)


def _flags(limit: Limit, stable: bool = True) -> tuple[ResultFlag, ...]:
    flags = [ResultFlag.UNVERIFIED_LIMIT] if limit.unverified else []
    if not stable:
        flags.append(ResultFlag.NOT_STABLE)
    return tuple(flags)


class Jjg635(Procedure):
    """Verification of NDIR CO/CO2 gas analyzers to JJG 635-2011 (see the module docs)."""

    id = "jjg635"
    version = "2.0.0"
    title_zh = "一氧化碳、二氧化碳红外气体分析器检定"
    title_en = "Verification of NDIR CO/CO2 gas analyzers"
    kind = ServiceKind.VERIFICATION
    regulation = "JJG 635-2011"
    roles = GAS_ROLES
    under_test = "gas_analyzer"
    parameters = (
        Parameter("span", "量程 Full scale", like=FRACTION, item="span"),
        Parameter(
            "resolution",
            "分辨力 Display resolution",
            like=FRACTION,
            item="resolution",
            default="0.1 umol/mol",
        ),
        Parameter("zero_gas", "零点气 Zero gas (TAG@PORT)"),
        Parameter("gas_P20", "标准气体 20 %FS gas (TAG@PORT; value; U=...; k=...)"),
        Parameter("gas_P50", "标准气体 50 %FS gas (TAG@PORT; value; U=...; k=...)"),
        Parameter("gas_P80", "标准气体 80 %FS gas (TAG@PORT; value; U=...; k=...)"),
    )
    table_file = "jjg635.toml"

    #: the span gas (T90, span drift) is the highest point
    SPAN_POINT = "P80"

    # ------------------------------------------------------------------ plan

    def plan(self, p: PlanningContext) -> None:
        """Span and resolution from the item; gases from the bench and the register."""
        span = p.value("span")
        resolution = p.value("resolution")
        if span is None or span.magnitude <= 0:
            raise p.refuse("parameter span: the item registers no positive full scale")
        if not 0 < resolution.to(FRACTION).magnitude < span.to(FRACTION).magnitude:
            raise p.refuse("parameter resolution: must be positive and below the span")
        plan_gases(p, span.to(FRACTION))
        p.add_point("T90", T90_POINT.label)
        interval = display_quantity(p.table.limit("drift_interval"), "g")
        p.add_point("drift", BiText(f"{interval} 内", f"over {interval}"))

    def parse_parameters(self, raw: dict[str, str]) -> dict[str, Any]:
        """Validate the parameters, including the gas texts and their plausibility."""
        parsed = super().parse_parameters(raw)
        parse_span_and_gases(self.table, parsed)
        return parsed

    def _uses(self, *points: str) -> tuple[str, ...]:
        """The materials a step uses (re-checked before it runs)."""
        if self.run_plan is None:
            return ()
        return tuple(m.tag for m in self.run_plan.materials if m.purpose in points)

    # ------------------------------------------------------------------ body

    def steps(self) -> Sequence[Step]:
        """Setup; indication error per gas point; T90; drift start and end."""
        points = [
            Step(
                p.name,
                f"示值误差 Indication error at {p.name} ({display_quantity(p.nominal, 'g')})",
                partial(self.indication_point, name=p.name),
                uses=self._uses(p.name),
            )
            for p in self.table.points
        ]
        both = self._uses("zero", self.SPAN_POINT)
        return [
            Step("setup", "准备 Setup", self.setup, check_environment=True),
            *points,
            Step("response_time", "响应时间 Response time T90", self.response, uses=both),
            Step("drift_start", "漂移起点 Drift: initial readings", self.drift_start, uses=both),
            Step(
                "drift_end",
                "漂移终点 Drift: readings after the interval",
                self.drift_end,
                uses=both,
                check_environment=True,
            ),
        ]

    def setup(self, ctx: StepContext) -> None:
        """Connect and warm up; operator reads the room thermometer; start the gas flow."""
        ctx.confirm(
            "gas.analyzer_ready",
            "被检分析仪已预热并连接到配气仪出口",
            "The analyzer under test is warmed up and connected to the dilutor outlet",
        )
        ctx.confirm(
            "gas.zero_gas_connected",
            "零点气及标准气体钢瓶已按参数接入配气仪端口",
            "Zero gas and standard-gas cylinders are connected to the dilutor ports as listed",
        )
        ctx.enter_value(
            "env.display_temperature",
            "输入实验室温度计读数（含单位）",
            "Enter the laboratory thermometer reading (with its unit)",
            like="degC",
            plausible=(ureg.Quantity(-10.0, "degC"), ureg.Quantity(50.0, "degC")),
        )
        ctx.instrument(GasDilutor, "dilutor").set_flow(ctx.table.limit("sample_flow"))

    # ------------------------------------------------------------------ 1, 2: error, RSD

    def indication_point(self, ctx: StepContext, name: str) -> None:
        """Settle, take the repeats, record the indication error and the repeatability."""
        span = ctx.parameters["span"]
        gas: GasSpec = ctx.parameters["gases"][name]
        table_point = next(p for p in ctx.table.points if p.name == name)
        criteria = criteria_from_table(ctx.table, span)
        m = measure_point(ctx, gas, name, criteria=criteria, repeats=table_point.repeats)
        reference = gas.certified if gas.certified is not None else ureg.Quantity(0.0, FRACTION)
        indication = mean(m.repeats).to(FRACTION)
        error_fs = fiducial_error(indication, reference, span)
        budget = error_budget(m.repeats, gas, ctx.parameters["resolution"], coverage=COVERAGE)
        u_fs = as_fiducial(budget.expanded, span)
        mpe = _limit(ctx, "mpe")
        decision = decide(JJF_1094, error_fs, mpe.value, u_fs)
        point = Point(name, point_label(name, table_point.nominal), reference)
        ctx.record(
            ResultRecord(
                point=point,
                characteristic=Characteristic.INDICATION_ERROR,
                value=error_fs,
                form=ErrorForm.FIDUCIAL,
                full_scale=span,
                reference=reference,
                indication=indication,
                limit=mpe,
                uncertainty=Uncertainty(u_fs, budget.k, budget.p or 0.95, budget.dof_eff),
                verdict=decision.verdict,
                decision_rule=JJF_1094.id,
                budget=StoredBudget.from_calc(budget),
                flags=_flags(mpe, m.stable),
                materials=(gas.tag,),
                extras=(
                    Extra(
                        "error",
                        BiText("示值误差（绝对）", "absolute error"),
                        indication - reference,
                    ),
                    Extra("U", BiText("扩展不确定度（绝对）", "absolute U"), budget.expanded),
                    Extra("n", BiText("测量次数", "repeats"), len(m.repeats)),
                ),
            ),
            readings=m.readings,
        )
        if gas.zero:
            return
        rsd = relative_standard_deviation(m.repeats)
        limit = _limit(ctx, "repeatability", LimitKind.UPPER)
        ctx.record(
            ResultRecord(
                point=point,
                characteristic=Characteristic.REPEATABILITY,
                value=rsd,
                form=ErrorForm.VALUE,
                limit=limit,
                verdict=Verdict.PASS if rsd <= limit.value else Verdict.FAIL,
                decision_rule="limit",
                flags=_flags(limit),
                materials=(gas.tag,),
                extras=(Extra("n", BiText("测量次数", "repeats"), len(m.repeats)),),
            ),
            readings=m.readings,
        )

    # ------------------------------------------------------------------ 3: T90

    def response(self, ctx: StepContext) -> None:
        """Zero gas until stable, then a step to the span gas, sampled until stable."""
        span = ctx.parameters["span"]
        gases = ctx.parameters["gases"]
        criteria = criteria_from_table(ctx.table, span)
        settle(ctx, gases["zero"].port, criteria, "T90")
        analyzer = ctx.instrument(GasAnalyzer, "analyzer")
        before = ctx.measure("analyzer", "read_concentration", "response", test_point="T90")
        samples: list[tuple[Any, Any]] = [(ureg.Quantity(0.0, "s"), before.value)]
        readings = [before]
        before_switch = ctx.now()  # the flow was set by settle() in this step
        ctx.instrument(GasDilutor, "dilutor").select_port(gases[self.SPAN_POINT].port)
        # the valve switched during the call: take its midpoint as the step instant
        t0 = (before_switch + ctx.now()) / 2
        interval = ctx.table.limit("sampling_interval")
        limit = _limit(ctx, "t90", LimitKind.UPPER)
        end = 4 * limit.value.to("s")
        window = ctx.table.limit("stability_window").to("s")
        give_up = ctx.table.limit("settle_timeout").to("s") + end
        # sample for at least 4 × the T90 limit, and beyond it until the last window is flat
        while True:
            ctx.wait(interval)
            t_call = ctx.now()
            value = analyzer.read_concentration()
            t = ((t_call + ctx.now()) / 2 - t0).to("s")
            readings.append(
                ctx.take_reading("response", value, source="analyzer", test_point="T90")
            )
            readings.append(ctx.take_reading("response.time", t, source="engine", test_point="T90"))
            samples.append((t, value))
            if (t >= end and _flat(samples, window, criteria.max_spread)) or t >= give_up:
                break
        rt = response_time(samples, ureg.Quantity(0.0, "s"), final_samples=_last_n(samples, window))
        ctx.record(
            ResultRecord(
                point=T90_POINT,
                characteristic=Characteristic.RESPONSE_TIME,
                value=rt.t90,
                form=ErrorForm.VALUE,
                limit=limit,
                verdict=Verdict.PASS if rt.t90 <= limit.value else Verdict.FAIL,
                decision_rule="limit",
                flags=_flags(limit),
                materials=(gases["zero"].tag, gases[self.SPAN_POINT].tag),
                extras=(
                    Extra("initial", BiText("初始示值", "initial indication"), rt.initial),
                    Extra("final", BiText("稳定示值", "final indication"), rt.final),
                ),
            ),
            readings=readings,
        )

    # ------------------------------------------------------------------ 4: drift

    def _drift_readings(self, ctx: StepContext, tag: str) -> dict[str, list[Any]]:
        span = ctx.parameters["span"]
        gases = ctx.parameters["gases"]
        criteria = criteria_from_table(ctx.table, span)
        out: dict[str, list[Any]] = {}
        for key, gas in (("zero", gases["zero"]), ("span", gases[self.SPAN_POINT])):
            m = measure_point(ctx, gas, f"{tag}.{key}", criteria=criteria, repeats=3)
            out[key] = m.repeats
        return out

    def drift_start(self, ctx: StepContext) -> None:
        """Zero and span indications at the start of the drift interval."""
        self._drift_readings(ctx, "drift0")
        ctx.take_reading("drift.start_time", ctx.now(), source="engine", test_point="drift0")
        feed(ctx, ctx.parameters["gases"]["zero"].port)

    def drift_end(self, ctx: StepContext) -> None:
        """Wait the interval on zero gas, read zero and span again, judge both drifts."""
        interval = ctx.table.limit("drift_interval")
        feed(ctx, ctx.parameters["gases"]["zero"].port)
        ctx.wait(interval)
        end = self._drift_readings(ctx, "drift1")
        span = ctx.parameters["span"]
        gases = ctx.parameters["gases"]

        def means(tp: str) -> list[Any]:
            return [r.value for r in ctx.readings(test_point=tp, quantity="indication")]

        z0, s0 = means("drift0.zero"), means("drift0.span")
        z1, s1 = end["zero"], end["span"]
        res = ctx.parameters["resolution"]
        point = Point(
            "drift",
            BiText(
                f"{display_quantity(interval, 'g')} 内", f"over {display_quantity(interval, 'g')}"
            ),
        )
        for characteristic, drift, parts in (
            (Characteristic.ZERO_DRIFT, zero_drift([mean(z0), mean(z1)], span), (z0, z1)),
            (
                Characteristic.SPAN_DRIFT,
                span_drift([mean(s0), mean(s1)], span, [mean(z0), mean(z1)]),
                (z0, z1, s0, s1),
            ),
        ):
            comps = [
                type_a_component(f"读数 {i} repeat mean {i}", list(r)) for i, r in enumerate(parts)
            ]
            comps.append(_resolution("分辨力 resolution", res.to(FRACTION)))
            budget = uncertainty_budget(
                drift.max_deviation.to(FRACTION),
                comps,
                measurand=characteristic.value,
                coverage=COVERAGE,
            )
            u_fs = as_fiducial(budget.expanded, span)
            limit = _limit(ctx, characteristic.value)
            decision = decide(JJF_1094, drift.max_deviation_fs, limit.value, u_fs)
            flags = list(_flags(limit))
            if ctx.table.limits["drift_interval"].unverified:
                flags.append(ResultFlag.UNVERIFIED_LIMIT)
            ctx.record(
                ResultRecord(
                    point=point,
                    characteristic=characteristic,
                    value=drift.max_deviation_fs,
                    form=ErrorForm.FIDUCIAL,
                    full_scale=span,
                    limit=limit,
                    uncertainty=Uncertainty(u_fs, budget.k, budget.p or 0.95, budget.dof_eff),
                    verdict=decision.verdict,
                    decision_rule=JJF_1094.id,
                    budget=StoredBudget.from_calc(budget),
                    flags=tuple(dict.fromkeys(flags)),
                    materials=(gases["zero"].tag, gases[self.SPAN_POINT].tag),
                    extras=(
                        Extra(
                            "drift",
                            BiText("漂移（绝对）", "absolute drift"),
                            drift.max_deviation.to(FRACTION),
                        ),
                        Extra("interval", BiText("间隔", "interval"), interval),
                    ),
                )
            )


def _last_n(samples: list[tuple[Any, Any]], window: Any) -> int:
    t_end = samples[-1][0]
    return max(1, sum(1 for t, _ in samples if t >= t_end - window))


def _flat(samples: list[tuple[Any, Any]], window: Any, spread: Any) -> bool:
    n = _last_n(samples, window)
    if n < 3:
        return False
    values = [float(v.to(FRACTION).magnitude) for _, v in samples[-n:]]
    return max(values) - min(values) <= float(spread.to(FRACTION).magnitude)
