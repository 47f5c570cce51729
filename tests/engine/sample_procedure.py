"""A small test procedure on a fake gas bench (used by the engine tests only)."""

from __future__ import annotations

from collections.abc import Sequence

from drivers.roles import GasAnalyzer, GasDilutor
from lims.calc.errors import fiducial_error
from lims.calc.repeats import mean
from lims.engine import Parameter, Procedure, StabilityCriteria, Step, StepContext
from lims.models.enums import ServiceKind
from lims.results import Characteristic, ErrorForm, Extra, Point, ResultRecord
from lims.units import ureg
from lims.vocabulary import BiText

#: test point → (reference material tag, dilutor port)
POINT_GAS = {"P1": ("RM-CO2-0400", 2), "P2": ("RM-CO2-1000", 3)}

CRITERIA = StabilityCriteria(
    timeout=ureg("300 s"),
    interval=ureg("1 s"),
    window=ureg("8 s"),
    max_slope=ureg("0.05 umol/mol/s"),
    max_spread=ureg("0.5 umol/mol"),
)


class SampleGasProcedure(Procedure):
    """Zero check, then repeated indications at each test point, then a summary."""

    id = "test-gas"
    version = "0.1"
    title_zh = "测试用气体分析仪检定"
    title_en = "Test gas analyzer verification"
    kind = ServiceKind.VERIFICATION
    regulation = "JJG 635-2011 (test)"
    roles = {  # noqa: RUF012 (class-level declaration)
        "analyzer": "gas_analyzer",
        "dilutor": "gas_dilutor",
        "env": "environment_monitor",
    }
    parameters = (Parameter("span", "量程 Span", like="umol/mol", default="2000 umol/mol"),)
    table_file = "sample_released.toml"

    def steps(self) -> Sequence[Step]:
        points = [
            Step(
                p.name,
                f"示值 Indication {p.name}",
                self._point(p.name),
                uses=(POINT_GAS[p.name][0],),
            )
            for p in self.table.points
        ]
        return [
            Step("setup", "准备 Setup", self.setup, check_environment=True),
            *points,
            Step("summary", "结果 Results", self.summary),
        ]

    def setup(self, ctx: StepContext) -> None:
        ctx.confirm(
            "connect", "连接分析仪到配气仪出口", "Connect the analyzer to the dilutor outlet"
        )
        ctx.enter_value(
            "display_range",
            "输入分析仪显示的量程",
            "Enter the range shown on the analyzer display",
            like="umol/mol",
            plausible=(ureg("1 umol/mol"), ureg("100000 umol/mol")),
        )
        ctx.instrument(GasDilutor, "dilutor").set_flow(ureg("1 L/min"))

    def _point(self, name: str):  # type: ignore[no-untyped-def]
        def run(ctx: StepContext) -> None:
            # a step sets up the bench state it needs: a retried step follows safe_state()
            _, port = POINT_GAS[name]
            ctx.instrument(GasDilutor, "dilutor").select_port(port)
            ctx.instrument(GasDilutor, "dilutor").set_flow(ureg("1 L/min"))
            analyzer = ctx.instrument(GasAnalyzer, "analyzer")
            ctx.wait_for_stability(
                analyzer.read_concentration,
                CRITERIA,
                quantity="indication",
                source="analyzer",
                test_point=name,
            )
            for _ in range(ctx.table.repeat_count("indication")):
                ctx.measure("analyzer", "read_concentration", "indication", test_point=name)
                ctx.wait(ureg("2 s"))

        return run

    def summary(self, ctx: StepContext) -> None:
        span = ctx.parameters["span"]
        for p in ctx.table.points:
            readings = ctx.readings(test_point=p.name, quantity="indication")
            indication = mean([r.value for r in readings])
            ctx.record(
                ResultRecord(
                    point=Point(p.name, BiText(p.name, p.name), p.nominal),
                    characteristic=Characteristic.INDICATION_ERROR,
                    value=fiducial_error(indication, p.nominal, span),
                    form=ErrorForm.FIDUCIAL,
                    full_scale=span,
                    reference=p.nominal,
                    indication=indication,
                    extras=(Extra("n", BiText("次数", "n"), len(readings)),),
                ),
                readings=readings,
            )
