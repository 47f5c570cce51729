"""JJG 635-2011: verification of CO / CO2 infrared (NDIR) gas analyzers.

Steps: setup (environment, operator entry) → zero gas → standard gases near 20, 50 and
80 %FS (3 repeats each; indication error in %FS, repeatability as RSD, U from a GTC
budget, verdict per JJF 1094) → response time T90 on a zero → span step → zero and span
drift over the table's interval → the regulation table's status (unverified values).

Run parameters (texts as typed; the command line fills the gases from the reference
material register, see :mod:`procedures.jjg635.gas`): ``span`` (full scale, e.g.
``2000 umol/mol``), ``resolution`` (display resolution), ``zero_gas`` (``TAG@PORT``) and
``gas_P20``, ``gas_P50``, ``gas_P80`` (``TAG@PORT; VALUE; U=...; k=...``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

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
from lims.engine import Parameter, Procedure, RegulationTable, Step, StepContext
from lims.models.enums import ServiceKind, Verdict
from lims.units import ureg
from procedures.jjg635.gas import (
    FRACTION,
    GAS_ROLES,
    GasSpec,
    budget_json,
    criteria_from_table,
    error_budget,
    feed,
    gas_parameters,
    measure_point,
    parse_span_and_gases,
    settle,
)

__all__ = ["Jjg635"]

COVERAGE = Coverage.probability(0.95)  # JJF 1094 works with U95


def _verdict(v: Any) -> Verdict:
    return Verdict(v.value)


class Jjg635(Procedure):
    """Verification of NDIR CO/CO2 gas analyzers to JJG 635-2011 (see the module docs)."""

    id = "jjg635"
    version = "1.0.0"
    title_zh = "一氧化碳、二氧化碳红外气体分析器检定"
    title_en = "Verification of NDIR CO/CO2 gas analyzers"
    kind = ServiceKind.VERIFICATION
    regulation = "JJG 635-2011"
    roles = GAS_ROLES
    parameters = (
        Parameter("span", "量程 Full scale", like=FRACTION),
        Parameter("resolution", "分辨力 Display resolution", like=FRACTION, default="0.1 umol/mol"),
        Parameter("zero_gas", "零点气 Zero gas (TAG@PORT)"),
        Parameter("gas_P20", "标准气体 20 %FS gas (TAG@PORT; value; U=...; k=...)"),
        Parameter("gas_P50", "标准气体 50 %FS gas (TAG@PORT; value; U=...; k=...)"),
        Parameter("gas_P80", "标准气体 80 %FS gas (TAG@PORT; value; U=...; k=...)"),
    )
    table_file = "jjg635.toml"

    #: the span gas (T90, span drift) is the highest point
    SPAN_POINT = "P80"

    def __init__(
        self, table: RegulationTable | None = None, *, parameters: Mapping[str, str] | None = None
    ) -> None:
        # With the run's parameters known, each step names the gases it uses so that the
        # engine re-checks them before the step.
        self._raw = dict(parameters or {})
        super().__init__(table)

    # ------------------------------------------------------------------ parameters

    def parse_parameters(self, raw: dict[str, str]) -> dict[str, Any]:
        """Validate the parameters, including the gas texts and their plausibility."""
        parsed = super().parse_parameters(raw)
        parse_span_and_gases(self.table, parsed)
        return parsed

    @classmethod
    def parameters_for_bench(
        cls,
        *,
        table: RegulationTable,
        span: Any,
        cylinders: Sequence[tuple[int, str, bool]],
        register: Mapping[str, tuple[Any, Any, float]],
    ) -> dict[str, str]:
        """``zero_gas`` and ``gas_<point>`` from a dilutor's cylinders (see gas_parameters)."""
        return gas_parameters(table, span, cylinders, register)

    def _tag(self, point: str) -> tuple[str, ...]:
        key = "zero_gas" if point == "zero" else f"gas_{point}"
        text = self._raw.get(key)
        return (text.split("@", 1)[0].strip(),) if text and "@" in text else ()

    # ------------------------------------------------------------------ body

    def steps(self) -> Sequence[Step]:
        """setup, one step per table point, T90, drift start/end, table status."""
        points = [
            Step(
                p.name,
                f"示值误差 Indication error at {p.name} ({p.nominal:~P})",
                self._point_step(p.name),
                uses=self._tag(p.name),
            )
            for p in self.table.points
        ]
        both = self._tag("zero") + self._tag(self.SPAN_POINT)
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
            Step("table_status", "规程表状态 Regulation table status", self.table_status),
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
        ctx.instrument("dilutor").set_flow(ctx.table.limit("sample_flow"))

    def _point_step(self, name: str) -> Any:
        def run(ctx: StepContext) -> None:
            self.indication_point(ctx, name)

        return run

    def indication_point(self, ctx: StepContext, name: str) -> None:
        """Settle, take the repeats, record error, U, verdict and repeatability."""
        span = ctx.parameters["span"]
        gas: GasSpec = ctx.parameters["gases"][name]
        point = next(p for p in ctx.table.points if p.name == name)
        criteria = criteria_from_table(ctx.table, span)
        m = measure_point(ctx, gas, name, criteria=criteria, repeats=point.repeats)
        reference = gas.certified if gas.certified is not None else ureg.Quantity(0.0, FRACTION)
        indication = mean(m.repeats).to(FRACTION)
        error_fs = fiducial_error(indication, reference, span)
        budget = error_budget(m.repeats, gas, ctx.parameters["resolution"], coverage=COVERAGE)
        u_fs = as_fiducial(budget.expanded, span)
        mpe = ctx.table.limit("mpe")
        decision = decide(JJF_1094, error_fs, mpe, u_fs)
        values: dict[str, Any] = {
            "reference": reference,
            "reference_material": gas.tag,
            "indication": indication,
            "error": (indication - reference).to(FRACTION),
            "error_fs": error_fs,
            "mpe": mpe,
            "mpe_unverified": ctx.table.limits["mpe"].unverified,
            "expanded_uncertainty": budget.expanded,
            "expanded_uncertainty_fs": u_fs,
            "k": budget.k,
            "coverage": budget.coverage_statement,
            "n": len(m.repeats),
            "stable": m.stable,
        }
        if not gas.zero:
            values["repeatability"] = relative_standard_deviation(m.repeats)
        ctx.record_result(
            name,
            "indication_error",
            values,
            verdict=_verdict(decision.verdict),
            decision_rule=JJF_1094.id,
            readings=m.readings,
            budget=budget_json(budget),
        )
        if not gas.zero:
            rsd = values["repeatability"]
            limit = ctx.table.limit("repeatability")
            ctx.record_result(
                name,
                "repeatability",
                {
                    "repeatability": rsd,
                    "limit": limit,
                    "limit_unverified": ctx.table.limits["repeatability"].unverified,
                    "n": len(m.repeats),
                },
                verdict=Verdict.PASS if rsd <= limit else Verdict.FAIL,
                readings=m.readings,
            )

    def response(self, ctx: StepContext) -> None:
        """Zero gas until stable, then a step to the span gas, sampled until stable."""
        span = ctx.parameters["span"]
        gases = ctx.parameters["gases"]
        criteria = criteria_from_table(ctx.table, span)
        settle(ctx, gases["zero"].port, criteria, "T90")
        analyzer = ctx.instrument("analyzer")
        before = ctx.measure("analyzer", "read_concentration", "response", test_point="T90")
        samples: list[tuple[Any, Any]] = [(ureg.Quantity(0.0, "s"), before.value)]
        readings = [before]
        now = ctx._control.sim_now  # simulated seconds (the engine's clock)
        before_switch = now()  # the flow was set by settle() in this step
        ctx.instrument("dilutor").select_port(gases[self.SPAN_POINT].port)
        # the valve switched during the call: take its midpoint as the step instant
        t0 = (before_switch + now()) / 2
        interval = ctx.table.limit("sampling_interval")
        limit = ctx.table.limit("t90")
        end = 4.0 * float(limit.to("s").magnitude)
        window = float(ctx.table.limit("stability_window").to("s").magnitude)
        # sample for at least 4 × the T90 limit, and beyond it until the last window is flat
        while True:
            ctx.wait(interval)
            t_call = now()
            value = analyzer.read_concentration()
            t = (t_call + now()) / 2 - t0
            readings.append(
                ctx.take_reading("response", value, source="analyzer", test_point="T90")
            )
            readings.append(
                ctx.take_reading(
                    "response.time", ureg.Quantity(t, "s"), source="engine", test_point="T90"
                )
            )
            samples.append((ureg.Quantity(t, "s"), value))
            if t >= end and _flat(samples, window, criteria.max_spread):
                break
            if t >= float(ctx.table.limit("settle_timeout").to("s").magnitude) + end:
                break
        rt = response_time(samples, ureg.Quantity(0.0, "s"), final_samples=_last_n(samples, window))
        ctx.record_result(
            "T90",
            "response_time",
            {
                "t90": rt.t90,
                "limit": limit,
                "limit_unverified": ctx.table.limits["t90"].unverified,
                "initial": rt.initial,
                "final": rt.final,
                "reference_material": gases[self.SPAN_POINT].tag,
            },
            verdict=Verdict.PASS if rt.t90 <= limit else Verdict.FAIL,
            readings=readings,
        )

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
        ctx.take_reading(
            "drift.start_time",
            ureg.Quantity(ctx._control.sim_now(), "s"),
            source="engine",
            test_point="drift0",
        )
        feed(ctx, ctx.parameters["gases"]["zero"].port)

    def drift_end(self, ctx: StepContext) -> None:
        """Wait the interval on zero gas, read zero and span again, judge both drifts."""
        interval = ctx.table.limit("drift_interval")
        feed(ctx, ctx.parameters["gases"]["zero"].port)
        ctx.wait(interval)
        end = self._drift_readings(ctx, "drift1")
        span = ctx.parameters["span"]

        def means(tp: str) -> list[Any]:
            return [r.value for r in ctx.readings(test_point=tp, quantity="indication")]

        z0, s0 = means("drift0.zero"), means("drift0.span")
        z1, s1 = end["zero"], end["span"]
        res = ctx.parameters["resolution"]
        for item, drift, parts in (
            ("zero_drift", zero_drift([mean(z0), mean(z1)], span), (z0, z1)),
            (
                "span_drift",
                span_drift([mean(s0), mean(s1)], span, [mean(z0), mean(z1)]),
                (z0, z1, s0, s1),
            ),
        ):
            comps = [
                type_a_component(f"读数 {i} repeat mean {i}", list(r)) for i, r in enumerate(parts)
            ]
            comps.append(_resolution("分辨力 resolution", res.to(FRACTION)))
            budget = uncertainty_budget(
                drift.max_deviation.to(FRACTION), comps, measurand=item, coverage=COVERAGE
            )
            u_fs = as_fiducial(budget.expanded, span)
            limit = ctx.table.limit(item)
            decision = decide(JJF_1094, drift.max_deviation_fs, limit, u_fs)
            ctx.record_result(
                "drift",
                item,
                {
                    "drift": drift.max_deviation.to(FRACTION),
                    "drift_fs": drift.max_deviation_fs,
                    "interval": interval,
                    "mpe": limit,
                    "mpe_unverified": ctx.table.limits[item].unverified,
                    "interval_unverified": ctx.table.limits["drift_interval"].unverified,
                    "expanded_uncertainty": budget.expanded,
                    "expanded_uncertainty_fs": u_fs,
                    "k": budget.k,
                },
                verdict=_verdict(decision.verdict),
                decision_rule=JJF_1094.id,
                budget=budget_json(budget),
            )

    def table_status(self, ctx: StepContext) -> None:
        """Record which table values the verdicts rest on are still unverified (for the
        certificate); the verdicts themselves are in the results of each item."""
        ctx.record_result(
            "table",
            "regulation_table",
            {
                "unverified_table_values": ", ".join(ctx.table.unverified_keys()),
                "table_version": ctx.table.version,
                "table_released": ctx.table.release.released,
            },
            verdict=Verdict.NOT_STATED,
        )


def _last_n(samples: list[tuple[Any, Any]], window_s: float) -> int:
    t_end = float(samples[-1][0].magnitude)
    return max(1, sum(1 for t, _ in samples if float(t.magnitude) >= t_end - window_s))


def _flat(samples: list[tuple[Any, Any]], window_s: float, spread: Any) -> bool:
    n = _last_n(samples, window_s)
    if n < 3:
        return False
    values = [float(v.to(FRACTION).magnitude) for _, v in samples[-n:]]
    return max(values) - min(values) <= float(spread.to(FRACTION).magnitude)
