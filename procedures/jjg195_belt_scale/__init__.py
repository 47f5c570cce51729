"""JJG 195-2019: verification of belt scales (continuous totalizing automatic weighing
instruments) on site, at the customer's conveyor.

The regulation's tests, in the order they are run:

1. **Zero-load test**: the empty belt runs for the table's ``zero_test_time``; the
   totalized load must stay within ±(zero fraction of the class × maximum flow rate ×
   the time run). Verdict against that limit.
2. **Simulated-load (chain) test**: the lab's test chain (certified linear mass q_c, a
   traced standard) lies on the running belt; the reference load is q_c × the belt travel
   read on the lab's travel counter. δ = (I − q_c·L)/(q_c·L), repeated ``repeats.chain``
   times.
3. **Material tests** at each flow-rate point of the table (fraction of the maximum flow
   rate): a batch weighed on the control instrument (a static scale, a traced standard)
   passes the scale; δ = (I − M)/M per batch, ``repeats`` batches per point.

The error of a test is the mean of its repeats; U (95 %) from the reference's certificate,
the repeats (Type A) and the totalizer's resolution; the verdict per JJF 1094 against the
MPE of the accuracy class for the kind of verification (first and subsequent verification
share one MPE, in-service inspection has its own). The class, the maximum flow rate and the
kind of verification come from the item; the chain's linear mass and the control
instrument's U come from the certificates of the standards on the bench. A control
instrument whose U exceeds MPE(first) / ``control_divisor`` is refused before the run.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import partial
from typing import Any, ClassVar

from drivers.roles import BeltScale
from lims.calc import (
    Coverage,
    Distribution,
    decide,
    mean,
    resolution_component,
    type_a_component,
    type_b_half_width,
    uncertainty_budget,
)
from lims.calc.belt_scale import (
    VerificationKind,
    belt_scale_mpe,
    control_instrument_adequate,
    totalized_load_error,
    zero_load_limit,
)
from lims.engine import Parameter, Procedure, RecordedReading, Step, StepContext, TestPoint
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
from lims.units import display_quantity, ureg
from lims.vocabulary import BiText
from procedures import common

__all__ = ["BELT_CLASSES", "Jjg195BeltScale", "class_text"]

BELT_CLASSES = ("0.2", "0.5", "1", "2")
COVERAGE = Coverage.probability(0.95)  # JJF 1094 works with U95
ZERO_POINT = Point("zero", BiText("零点（空载）", "zero load"))
CHAIN_POINT = Point("chain", BiText("模拟载荷（链码）", "simulated load (chain)"))


def class_text(raw: str) -> str:
    """The accuracy class as the table names it (``0.50`` → ``0.5``, ``class 1.0`` → ``1``)."""
    text = str(raw).strip().removeprefix("class").strip()
    try:
        value = float(text)
    except ValueError:
        raise ValueError(
            f"parameter 'accuracy_class': {raw!r} is not a class (known: {', '.join(BELT_CLASSES)})"
        ) from None
    for c in BELT_CLASSES:
        if math.isclose(float(c), value):
            return c
    raise ValueError(
        f"parameter 'accuracy_class': class {raw!r} is not in JJG 195 "
        f"(known: {', '.join(BELT_CLASSES)})"
    )


def _point_label(point: TestPoint) -> BiText:
    share = f"{float(point.nominal.to('').magnitude):g} Qmax"
    return BiText(f"物料试验 {share}", f"material test {share}")


class Jjg195BeltScale(Procedure):
    """Belt scale verification on site (JJG 195-2019; see the module docs)."""

    id = "jjg195-belt-scale"
    version = "1.0.0"
    title_zh = "连续累计自动衡器（皮带秤）现场检定"
    title_en = "On-site verification of belt scales"
    kind = ServiceKind.VERIFICATION
    regulation = "JJG 195-2019"
    roles: ClassVar[dict[str, str]] = {
        "belt": "belt_scale",
        "control": "balance",
        "env": "environment_monitor",
    }
    under_test = "belt_scale"
    parameters = (
        Parameter("accuracy_class", "准确度等级 Accuracy class", item="accuracy_class"),
        Parameter("max_rate", "最大流量 Maximum flow rate Qmax", "t/h", item="max_rate"),
        Parameter(
            "verification_kind",
            "检定类别 Kind of verification",
            default="subsequent",
            item="verification_kind",
            choices=tuple(k.value for k in VerificationKind),
        ),
        Parameter(
            "totalizer_resolution",
            "累计显示器分度值 Totalizer resolution",
            "kg",
            "0.1 kg",
            item="totalizer_resolution",
        ),
        Parameter("control_U", "控制衡器相对扩展不确定度 (k=2) Control instrument's U", "percent"),
        Parameter("chain_load", "链码单位长度质量 Chain linear mass", "kg/m"),
        Parameter("chain_U", "链码扩展不确定度 (k=2) Chain's U", "kg/m"),
    )
    table_file = "jjg195.toml"

    # ------------------------------------------------------------------ plan

    def plan(self, p: PlanningContext) -> None:
        """Class, Qmax and kind from the item; chain and control instrument from the
        standards' certificates (refused when the control instrument is not good enough)."""
        try:
            cls = class_text(p.value("accuracy_class"))
        except ValueError as exc:
            raise p.refuse(str(exc)) from None
        if not p.value("max_rate").magnitude > 0:
            raise p.refuse("parameter max_rate: the item registers no positive maximum flow rate")
        control = p.register.standard_uncertainty("balance")
        if control is not None:
            u, k = control
            if u.dimensionality != ureg.percent.dimensionality:
                raise p.refuse(
                    f"控制衡器 control instrument: its certificate states U = {u:~P}; a relative "
                    "U (percent of the load) is needed"
                )
            p.set(
                "control_U",
                (u * 2.0 / k).to("percent"),
                ParameterSource.REGISTER,
                "certificate of the control instrument on the bench (scaled to k = 2)",
            )
        chain = p.register.standard_value("test_chain", "kg/m")
        if chain is not None:
            value, big_u, k = chain
            origin = "certificate of the test chain on the bench"
            p.set("chain_load", value.to("kg/m"), ParameterSource.REGISTER, origin)
            p.set("chain_U", (big_u * 2.0 / k).to("kg/m"), ParameterSource.REGISTER, origin)
        for name in ("control_U", "chain_load", "chain_U"):
            if p.value(name) is None:
                raise p.refuse(
                    f"parameter {name}: no certificate of the bench's "
                    f"{'test chain' if name.startswith('chain') else 'control instrument'} "
                    "states it (register the standard's certificate, or give --param)"
                )
        mpe_first = belt_scale_mpe(self.table.limits, cls, VerificationKind.FIRST)
        divisor = self.table.limit("control_divisor")
        if not control_instrument_adequate(p.value("control_U"), mpe_first, divisor):
            raise p.refuse(
                f"控制衡器不满足要求 the control instrument's U = {p.value('control_U'):~P} (k=2) "
                f"exceeds MPE ±{mpe_first:~P} (first verification, class {cls}) / "
                f"{divisor.to('').magnitude:g}; use a better control instrument"
            )
        p.add_point(ZERO_POINT.key, ZERO_POINT.label)
        p.add_point(CHAIN_POINT.key, CHAIN_POINT.label, p.value("chain_load"))
        for tp in self.table.points:
            p.add_point(tp.name, _point_label(tp), (p.value("max_rate") * tp.nominal).to("t/h"))

    def parse_parameters(self, raw: dict[str, str]) -> dict[str, Any]:
        """Parse the plan's parameters; the class as the table names it."""
        parsed = super().parse_parameters(raw)
        parsed["accuracy_class"] = class_text(str(parsed["accuracy_class"]))
        return parsed

    def mpe(self, ctx: StepContext) -> Limit:
        """The MPE of the class for the run's kind of verification."""
        p = ctx.parameters
        kind = VerificationKind(p["verification_kind"])
        prefix = "mpe_in_service" if kind is VerificationKind.IN_SERVICE else "mpe_first"
        key = f"{prefix}_class_{p['accuracy_class']}"
        value = belt_scale_mpe(ctx.table.limits, p["accuracy_class"], kind)
        return Limit(value, LimitKind.SYMMETRIC, f"limits.{key}", ctx.table.limits[key].unverified)

    # ------------------------------------------------------------------ body

    def steps(self) -> Sequence[Step]:
        """Setup; zero-load test; chain test; material test per flow-rate point."""
        return [
            Step("setup", "准备 Setup on site", self.setup),
            Step("zero", "零点试验 Zero-load test", self.zero_test),
            Step("chain", "模拟载荷试验 Simulated-load (chain) test", self.chain_test),
            *(
                Step(tp.name, f"物料试验 Material test at {tp.name}", partial(self.material, tp))
                for tp in self.table.points
            ),
        ]

    def setup(self, ctx: StepContext) -> None:
        """The belt runs empty and warm; the environment on site is read."""
        ctx.confirm(
            "belt.ready",
            "皮带输送机空载运行，秤已预热并置零；控制衡器已就位",
            "The conveyor runs empty, the scale is warmed up and zeroed; the control "
            "instrument is ready",
        )
        for method, quantity in (
            ("read_temperature", "env.temperature"),
            ("read_humidity", "env.humidity"),
            ("read_pressure", "env.pressure"),
        ):
            ctx.measure("env", method, quantity, test_point="site")
        p = ctx.parameters
        ctx.message(
            f"等级 class {p['accuracy_class']}, Qmax {display_quantity(p['max_rate'], 'g')}, "
            f"{VerificationKind(p['verification_kind']).zh} {p['verification_kind']}"
        )

    def _totalize_from(self, ctx: StepContext, point: str) -> RecordedReading:
        """Zero the totalizer and record when (simulated or wall seconds)."""
        ctx.instrument(BeltScale, "belt").reset_totalizer()
        return ctx.take_reading("time.start", ctx.now(), source="engine", test_point=point)

    def zero_test(self, ctx: StepContext) -> None:
        """The empty belt for the table's time: |totalized| ≤ fraction × Qmax × that time
        (the time actually run is recorded beside it)."""
        start = self._totalize_from(ctx, "zero")
        test_time = ctx.table.limit("zero_test_time")
        ctx.wait(test_time)
        total = ctx.measure("belt", "read_totalized", "totalized", test_point="zero")
        end = ctx.take_reading("time.end", ctx.now(), source="engine", test_point="zero")
        duration = (end.value - start.value).to("s")
        key = f"zero_fraction_class_{ctx.parameters['accuracy_class']}"
        fraction = ctx.table.limit(key)
        bound = zero_load_limit(ctx.parameters["max_rate"], test_time, fraction)
        limit = Limit(bound, LimitKind.SYMMETRIC, f"limits.{key}", ctx.table.limits[key].unverified)
        value = total.value.to("kg")
        ctx.record(
            ResultRecord(
                point=ZERO_POINT,
                characteristic=Characteristic.ZERO_STABILITY,
                value=value,
                form=ErrorForm.VALUE,
                limit=limit,
                verdict=Verdict.PASS if abs(value) <= limit.value else Verdict.FAIL,
                decision_rule="limit",
                flags=(ResultFlag.UNVERIFIED_LIMIT,) if limit.unverified else (),
                extras=(
                    Extra("duration", BiText("试验时间", "duration"), duration),
                    Extra("fraction", BiText("零点允许比例", "zero fraction"), fraction),
                ),
            ),
            readings=[start, total, end],
        )

    def chain_test(self, ctx: StepContext) -> None:
        """The chain on the running belt; reference = linear mass × belt travel."""
        ctx.confirm(
            "belt.chain_on",
            "将链码铺放在运行的皮带上",
            "Lay the test chain on the running belt",
        )
        indicated: list[Any] = []
        reference: list[Any] = []
        q_c = ctx.parameters["chain_load"].to("kg/m")
        plausible = (ureg.Quantity(0.0, "m"), ureg.Quantity(1e9, "m"))
        for i in range(ctx.table.repeat_count("chain")):
            self._totalize_from(ctx, "chain")
            travel0 = ctx.enter_value(
                "belt.travel_start",
                f"第 {i + 1} 次：读取皮带行程计数器（含单位）",
                f"Run {i + 1}: read the belt travel counter (with its unit)",
                like="m",
                plausible=plausible,
                test_point="chain",
            )
            ctx.wait(ctx.table.limit("chain_test_time"))
            total = ctx.measure("belt", "read_totalized", "totalized", test_point="chain")
            travel1 = ctx.enter_value(
                "belt.travel_end",
                f"第 {i + 1} 次：再次读取皮带行程计数器",
                f"Run {i + 1}: read the belt travel counter again",
                like="m",
                plausible=plausible,
                test_point="chain",
            )
            travel = (travel1 - travel0).to("m")
            if travel.magnitude <= 0:
                raise RuntimeError(
                    f"链码试验 chain test: the belt travel counter did not advance "
                    f"({display_quantity(travel0)} → {display_quantity(travel1)})"
                )
            indicated.append(total.value.to("kg"))
            reference.append((q_c * travel).to("kg"))
        ctx.confirm("belt.chain_off", "将链码从皮带上移开", "Lift the test chain off the belt")
        used = ctx.readings(step="chain")
        u_chain = (ctx.parameters["chain_U"] / q_c).to("percent")
        reference_component = type_b_half_width(
            "链码 test chain (U, k=2)", u_chain, Distribution.NORMAL, k=2.0
        )
        self._record_test(ctx, CHAIN_POINT, indicated, reference, reference_component, used)

    def material(self, point: TestPoint, ctx: StepContext) -> None:
        """Batches weighed on the control instrument pass the scale at the point's rate."""
        belt = ctx.instrument(BeltScale, "belt")
        qmax = ctx.parameters["max_rate"].to("t/h")
        stop = (qmax * ctx.table.limit("stop_fraction")).to("t/h")
        poll = ctx.table.limit("poll_interval")
        give_up = ctx.table.limit("batch_timeout").to("s")
        indicated: list[Any] = []
        reference: list[Any] = []
        rates: list[Any] = []
        used: list[RecordedReading] = []
        for i in range(point.repeats):
            used.append(self._totalize_from(ctx, point.name))
            ctx.confirm(
                f"belt.feed_{point.name}",
                f"第 {i + 1} 批：将经控制衡器称量的物料以约 "
                f"{display_quantity(qmax * point.nominal, 'g')} 的流量给料",
                f"Batch {i + 1}: feed the material weighed on the control instrument at about "
                f"{display_quantity(qmax * point.nominal, 'g')}",
            )
            began = ctx.now()
            running: list[Any] = []
            while True:
                rate = belt.read_rate().to("t/h")
                if rate > stop:
                    running.append(rate)
                elif running:
                    break
                if ctx.now() - began > give_up:
                    raise RuntimeError(
                        f"物料试验 {point.name}: no batch passed the scale within "
                        f"{display_quantity(give_up, 'g')} (rate {display_quantity(rate, 'g')})"
                    )
                ctx.wait(poll)
            ctx.wait(ctx.table.limit("run_out"))
            total = ctx.measure("belt", "read_totalized", "totalized", test_point=point.name)
            end = ctx.take_reading("time.end", ctx.now(), source="engine", test_point=point.name)
            mass = ctx.measure("control", "read_mass", "control_mass", test_point=point.name)
            rates.append(mean(running))
            used += [total, end, mass]
            indicated.append(total.value.to("kg"))
            reference.append(mass.value.to("kg"))
        control = type_b_half_width(
            "控制衡器 control instrument (U, k=2)",
            ctx.parameters["control_U"],
            Distribution.NORMAL,
            k=2.0,
        )
        label = Point(point.name, _point_label(point), (qmax * point.nominal).to("t/h"))
        rate = Extra("rate", BiText("实际流量", "flow rate"), mean(rates))
        self._record_test(ctx, label, indicated, reference, control, used, (rate,))

    def _record_test(
        self,
        ctx: StepContext,
        point: Point,
        indicated: list[Any],
        reference: list[Any],
        reference_component: Any,
        used: Sequence[RecordedReading],
        extras: tuple[Extra, ...] = (),
    ) -> None:
        errors = [totalized_load_error(i, r) for i, r in zip(indicated, reference, strict=True)]
        error = mean(errors)
        resolution = ctx.parameters["totalizer_resolution"].to("kg")
        components = [
            reference_component,
            resolution_component(
                "累计显示器分度值 totalizer resolution",
                (resolution / mean(reference)).to("percent"),
            ),
        ]
        if len(errors) > 1:
            components.append(type_a_component("重复性 repeatability of δ_i", errors))
        budget = uncertainty_budget(
            error, components, measurand=f"δ({point.key})", coverage=COVERAGE
        )
        mpe = self.mpe(ctx)
        rule = ctx.table.decision_rule.value
        decision = decide(rule, error, mpe.value, budget.expanded)
        keys = [mpe.table_key, "limits.control_divisor"]
        flags = (ResultFlag.UNVERIFIED_LIMIT,) if common.unverified_used(ctx.table, keys) else ()
        ctx.record(
            ResultRecord(
                point=point,
                characteristic=Characteristic.TOTALIZED_LOAD_ERROR,
                value=error,
                form=ErrorForm.RELATIVE,
                reference=mean(reference),
                indication=mean(indicated),
                limit=mpe,
                uncertainty=Uncertainty.of(budget),
                verdict=decision.verdict,
                decision_rule=rule,
                budget=StoredBudget.from_calc(budget),
                flags=flags,
                extras=(
                    Extra("n", BiText("测量次数", "repeats"), len(errors)),
                    Extra(
                        "errors",
                        BiText("各次误差", "single errors"),
                        ", ".join(display_quantity(e, ".3f") for e in errors),
                    ),
                    Extra(
                        "kind",
                        BiText("检定类别", "kind of verification"),
                        ctx.parameters["verification_kind"],
                    ),
                    *extras,
                ),
            ),
            readings=used,
        )
