"""Calibration of CH4 (and CO2) NDIR gas analyzers by the lab's own method.

At zero gas and standard gases near 20, 50 and 80 %FS (3 repeats, each averaged): the
indication error (absolute and relative) with its expanded uncertainty (GTC budget,
k = 2). No pass/fail is stated unless the work-order item carries the ILAC G8 decision
rule agreed with the customer (parameter ``decision_rule``, filled by the command line
from ``WorkOrderItem.decision_rule``) together with the agreed ``tolerance`` (in %FS, or
in the measurand's unit); then each point is judged by that rule.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

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
from lims.engine import Parameter, Procedure, RegulationTable, Step, StepContext
from lims.models.enums import ServiceKind, Verdict
from lims.units import UnitParseError, parse_quantity, ureg
from procedures.jjg635.gas import (
    FRACTION,
    GAS_ROLES,
    GasSpec,
    budget_json,
    criteria_from_table,
    error_budget,
    gas_parameters,
    measure_point,
    parse_span_and_gases,
)

__all__ = ["GasAnalyzerCalibration"]

COVERAGE = Coverage.fixed(2.0)


class GasAnalyzerCalibration(Procedure):
    """Calibration of CH4/CO2 analyzers (see the module docs)."""

    id = "gas-analyzer-cal"
    version = "1.0.0"
    title_zh = "甲烷、二氧化碳气体分析仪校准"
    title_en = "Calibration of CH4 / CO2 gas analyzers"
    kind = ServiceKind.CALIBRATION
    regulation = "实验室方法 CM-GAS-01 (lab method)"
    roles = GAS_ROLES
    parameters = (
        Parameter("span", "量程 Full scale", like=FRACTION),
        Parameter(
            "resolution", "分辨力 Display resolution", like=FRACTION, default="0.01 umol/mol"
        ),
        Parameter("zero_gas", "零点气 Zero gas (TAG@PORT)"),
        Parameter("gas_P20", "标准气体 20 %FS gas (TAG@PORT; value; U=...; k=...)"),
        Parameter("gas_P50", "标准气体 50 %FS gas (TAG@PORT; value; U=...; k=...)"),
        Parameter("gas_P80", "标准气体 80 %FS gas (TAG@PORT; value; U=...; k=...)"),
        Parameter("decision_rule", "判定规则 Agreed ILAC G8 decision rule", required=False),
        Parameter("tolerance", "允差 Agreed tolerance (±, %FS or µmol/mol)", required=False),
    )
    table_file = "gas_analyzer_cal.toml"

    def __init__(
        self, table: RegulationTable | None = None, *, parameters: Mapping[str, str] | None = None
    ) -> None:
        self._raw = dict(parameters or {})
        super().__init__(table)

    @classmethod
    def parameters_for_bench(
        cls,
        *,
        table: RegulationTable,
        span: Any,
        cylinders: Sequence[tuple[int, str, bool]],
        register: Mapping[str, tuple[Any, Any, float]],
    ) -> dict[str, str]:
        """``zero_gas`` and ``gas_<point>`` from a dilutor's cylinders."""
        return gas_parameters(table, span, cylinders, register)

    def parse_parameters(self, raw: dict[str, str]) -> dict[str, Any]:
        """Validate the parameters: gases, and the decision rule with its tolerance."""
        parsed = super().parse_parameters(raw)
        parse_span_and_gases(self.table, parsed)
        span = parsed["span"]
        rule, tol = parsed.get("decision_rule"), parsed.get("tolerance")
        if rule:
            if rule not in DECISION_RULES or rule == JJF_1094.id:
                known = ", ".join(r for r in DECISION_RULES if r != JJF_1094.id)
                raise ValueError(
                    f"parameter 'decision_rule': {rule!r} is not an ILAC G8 rule (known: {known})"
                )
            if not tol:
                raise ValueError(
                    "parameter 'tolerance': a conformity statement needs the agreed tolerance"
                )
            try:
                q = parse_quantity(tol)
                if q.dimensionality == ureg.Quantity(1, "percent_FS").dimensionality:
                    q = from_fiducial(q, span)
                q = q.to(FRACTION)
            except (UnitParseError, Exception) as exc:
                raise ValueError(
                    f"parameter 'tolerance': {tol!r} is not a %FS or µmol/mol value ({exc})"
                ) from None
            if q.magnitude <= 0:
                raise ValueError("parameter 'tolerance': must be positive")
            if q >= span:
                raise ValueError(
                    f"parameter 'tolerance': ±{q:~P} is not a plausible tolerance on a span "
                    f"of {span:~P} (it must be below the full scale)"
                )
            parsed["tolerance"] = abs(q)
        elif tol:
            raise ValueError("parameter 'tolerance' given without a 'decision_rule'")
        return parsed

    def _tag(self, point: str) -> tuple[str, ...]:
        key = "zero_gas" if point == "zero" else f"gas_{point}"
        text = self._raw.get(key)
        return (text.split("@", 1)[0].strip(),) if text and "@" in text else ()

    def steps(self) -> Sequence[Step]:
        """setup, then one step per table point."""
        return [
            Step("setup", "准备 Setup", self.setup, check_environment=True),
            *(
                Step(
                    p.name,
                    f"校准点 Calibration point {p.name} ({p.nominal:~P})",
                    self._point_step(p.name),
                    uses=self._tag(p.name),
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
        ctx.instrument("dilutor").set_flow(ctx.table.limit("sample_flow"))

    def _point_step(self, name: str) -> Any:
        def run(ctx: StepContext) -> None:
            self.calibration_point(ctx, name)

        return run

    def calibration_point(self, ctx: StepContext, name: str) -> None:
        """Settle, take the repeats, record error and U (and a verdict if agreed)."""
        span = ctx.parameters["span"]
        gas: GasSpec = ctx.parameters["gases"][name]
        point = next(p for p in ctx.table.points if p.name == name)
        m = measure_point(
            ctx, gas, name, criteria=criteria_from_table(ctx.table, span), repeats=point.repeats
        )
        reference = gas.certified if gas.certified is not None else ureg.Quantity(0.0, FRACTION)
        indication = mean(m.repeats).to(FRACTION)
        error = (indication - reference).to(FRACTION)
        budget = error_budget(m.repeats, gas, ctx.parameters["resolution"], coverage=COVERAGE)
        values: dict[str, Any] = {
            "reference": reference,
            "reference_material": gas.tag,
            "indication": indication,
            "error": error,
            "error_fs": as_fiducial(error, span),
            "expanded_uncertainty": budget.expanded,
            "k": budget.k,
            "coverage": budget.coverage_statement,
            "n": len(m.repeats),
            "stable": m.stable,
        }
        if not gas.zero:
            values["relative_error"] = relative_error(indication, reference)
            values["relative_expanded_uncertainty"] = (budget.expanded / reference).to("percent")
            values["repeatability"] = relative_standard_deviation(m.repeats)
        verdict, rule = Verdict.NOT_STATED, None
        rule_id = ctx.parameters.get("decision_rule")
        if rule_id:
            tolerance = ctx.parameters["tolerance"]
            decision = decide(rule_id, error, tolerance, budget.expanded)
            verdict, rule = Verdict(decision.verdict.value), rule_id
            values["tolerance"] = tolerance
        ctx.record_result(
            name,
            "indication_error",
            values,
            verdict=verdict,
            decision_rule=rule,
            readings=m.readings,
            budget=budget_json(budget),
        )
