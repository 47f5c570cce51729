"""Shared pieces of the gas-analyzer procedures (JJG 635 verification and CH4/CO2 calibration).

Written against the driver roles only: ``analyzer`` (gas_analyzer), ``dilutor``
(gas_dilutor), ``env`` (environment_monitor).

A standard gas is a run parameter naming the reference material by tag, the dilutor port
it is connected to and, for a certified gas, its certified value and expanded uncertainty
from the reference material's certificate::

    RM-N2-0001@1                                   (zero gas)
    RM-CO2-0400@2; 400 umol/mol; U=4 umol/mol; k=2

The run's plan fills these from the bench's cylinders and the register
(:func:`plan_gases`); the tags are checked by the engine (valid, not expired, not
exhausted) before the run and before each step that uses them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from drivers.roles import GasAnalyzer, GasDilutor
from lims.calc import (
    Coverage,
    UncertaintyBudget,
    certificate_component,
    from_fiducial,
    mean,
    resolution_component,
    type_a_component,
    uncertainty_budget,
)
from lims.engine import RecordedReading, RegulationTable, StabilityCriteria, StepContext
from lims.services.planning import ParameterSource, PlanningContext
from lims.units import UnitParseError, display_quantity, parse_quantity, ureg
from lims.vocabulary import BiText

__all__ = [
    "GAS_ROLES",
    "GasSpec",
    "PointMeasurement",
    "criteria_from_table",
    "error_budget",
    "feed",
    "gas_parameters",
    "measure_point",
    "parse_gas",
    "parse_span_and_gases",
    "plan_gases",
    "point_label",
    "settle",
]

GAS_ROLES = {"analyzer": "gas_analyzer", "dilutor": "gas_dilutor", "env": "environment_monitor"}
FRACTION = "umol/mol"

_GAS_RE = re.compile(
    r"^\s*(?P<tag>[^@;\s]+)\s*@\s*(?P<port>\d+)\s*"
    r"(?:;\s*(?P<value>[^;]+?)\s*;\s*U\s*=\s*(?P<U>[^;]+?)\s*;\s*k\s*=\s*(?P<k>[0-9.]+)\s*)?$"
)


@dataclass(frozen=True)
class GasSpec:
    """A standard gas on a dilutor port (``certified`` is None for zero gas)."""

    tag: str
    port: int
    certified: Any | None = None
    expanded: Any | None = None
    k: float = 2.0

    @property
    def zero(self) -> bool:
        """Whether this is zero gas."""
        return self.certified is None

    def text(self) -> str:
        """The parameter text this spec was parsed from (canonical form)."""
        if self.certified is None or self.expanded is None:
            return f"{self.tag}@{self.port}"
        return (
            f"{self.tag}@{self.port}; {self.certified.magnitude:g} {FRACTION}; "
            f"U={self.expanded.to(FRACTION).magnitude:g} {FRACTION}; k={self.k:g}"
        )


def parse_gas(name: str, text: str, *, zero: bool) -> GasSpec:
    """Parse a standard-gas parameter; ValueError names the parameter and what is wrong."""
    m = _GAS_RE.match(text or "")
    if m is None:
        form = "TAG@PORT" if zero else "TAG@PORT; VALUE UNIT; U=VALUE UNIT; k=K"
        raise ValueError(f"parameter {name!r}: {text!r} is not of the form {form}")
    port = int(m["port"])
    if port < 1:
        raise ValueError(f"parameter {name!r}: dilutor port must be ≥ 1, got {port}")
    if zero:
        if m["value"] is not None:
            raise ValueError(f"parameter {name!r}: zero gas has no certified value")
        return GasSpec(m["tag"], port)
    if m["value"] is None:
        raise ValueError(
            f"parameter {name!r}: a standard gas needs its certified value, U and k "
            "(TAG@PORT; VALUE UNIT; U=VALUE UNIT; k=K)"
        )
    try:
        value = parse_quantity(m["value"], like=FRACTION).to(FRACTION)
        big_u = parse_quantity(m["U"], like=FRACTION).to(FRACTION)
    except UnitParseError as exc:
        raise ValueError(f"parameter {name!r}: {exc}") from None
    k = float(m["k"])
    if value.magnitude <= 0:
        raise ValueError(f"parameter {name!r}: certified value must be positive")
    if big_u.magnitude <= 0 or not math.isfinite(k) or k <= 0:
        raise ValueError(f"parameter {name!r}: U and k must be positive")
    return GasSpec(m["tag"], port, value, big_u, k)


def parse_span_and_gases(table: RegulationTable, parsed: dict[str, Any]) -> None:
    """Check ``span`` and ``resolution`` and parse the gases of every table point, in place.

    Sets ``parsed["span"]`` (in µmol/mol) and ``parsed["gases"]`` (point name → GasSpec);
    a ValueError names the parameter that is impossible (no span, a gas above it).
    """
    span = parsed["span"].to(FRACTION)
    if span.magnitude <= 0:
        raise ValueError(f"parameter 'span': must be positive, got {span:~P}")
    if not 0 < parsed["resolution"].to(FRACTION).magnitude < span.magnitude:
        raise ValueError("parameter 'resolution': must be positive and below the span")
    gases = {"zero": parse_gas("zero_gas", parsed["zero_gas"], zero=True)}
    for p in table.points:
        if p.name == "zero":
            continue
        g = parse_gas(f"gas_{p.name}", parsed[f"gas_{p.name}"], zero=False)
        assert g.certified is not None
        if g.certified > span:
            raise ValueError(
                f"parameter 'gas_{p.name}': {g.certified:~P} is above the span {span:~P}"
            )
        gases[p.name] = g
    parsed["gases"] = gases
    parsed["span"] = span


def criteria_from_table(table: RegulationTable, span: Any) -> StabilityCriteria:
    """Stability criteria of the lab method (table limits in %FS of ``span``)."""
    spread = from_fiducial(table.limit("stability_spread"), span).to(FRACTION)
    per_min = table.limit("stability_slope").to("percent_FS/min")
    slope = span.to(FRACTION) * (float(per_min.magnitude) / 100.0) / ureg.minute
    return StabilityCriteria(
        timeout=table.limit("settle_timeout"),
        interval=table.limit("sampling_interval"),
        window=table.limit("stability_window"),
        max_slope=slope.to(f"{FRACTION}/s"),
        max_spread=spread,
    )


def feed(ctx: StepContext, port: int) -> None:
    """Feed the gas of ``port`` at the table's sample flow.

    Every step sets the flow itself, so that a step repeated after an instrument error or
    a resumed run (new connections, dilutor reset) starts from a known state.
    """
    dilutor = ctx.instrument(GasDilutor, "dilutor")
    dilutor.set_flow(ctx.table.limit("sample_flow"))
    dilutor.select_port(port)


def settle(ctx: StepContext, port: int, criteria: StabilityCriteria, test_point: str) -> bool:
    """Feed the gas of ``port`` and wait until the indication is stable; True if stable."""
    feed(ctx, port)
    result = ctx.wait_for_stability(
        ctx.instrument(GasAnalyzer, "analyzer").read_concentration,
        criteria,
        quantity="indication",
        source="analyzer",
        test_point=test_point,
    )
    return result.stable


@dataclass(frozen=True)
class PointMeasurement:
    """The repeat indications of one point (each the mean over the averaging time)."""

    repeats: list[Any]
    readings: list[RecordedReading]
    stable: bool


def measure_point(
    ctx: StepContext,
    gas: GasSpec,
    test_point: str,
    *,
    criteria: StabilityCriteria,
    repeats: int,
) -> PointMeasurement:
    """Settle on ``gas``, then take ``repeats`` indications, each averaged over the table's
    averaging time (every sample is recorded as ``indication.sample``, each repeat mean
    as ``indication``)."""
    stable = settle(ctx, gas.port, criteria, test_point)
    interval = ctx.table.limit("sampling_interval")
    averaging = float(ctx.table.limit("averaging_time").to("s").magnitude)
    per_repeat = max(1, round(averaging / float(interval.to("s").magnitude)))
    means: list[Any] = []
    recorded: list[RecordedReading] = []
    for _ in range(repeats):
        samples = []
        for i in range(per_repeat):
            rec = ctx.measure(
                "analyzer", "read_concentration", "indication.sample", test_point=test_point
            )
            samples.append(rec.value)
            recorded.append(rec)
            if i < per_repeat - 1:
                ctx.wait(interval)
        value = mean(samples).to(FRACTION)
        recorded.append(
            ctx.take_reading("indication", value, source="analyzer", test_point=test_point)
        )
        means.append(value)
        ctx.wait(interval)
    return PointMeasurement(means, recorded, stable)


def error_budget(
    indications: Sequence[Any],
    gas: GasSpec,
    resolution: Any,
    *,
    coverage: Coverage,
) -> UncertaintyBudget:
    """Budget of the indication error E = x̄ − x_s (+ δ_res), in µmol/mol.

    Components: repeatability of the indication (Type A, c = +1), the gas standard's
    certificate (U/k, c = −1; absent for zero gas) and the display resolution (c = +1).
    """
    x = mean(list(indications)).to(FRACTION)
    reference = gas.certified if gas.certified is not None else ureg.Quantity(0.0, FRACTION)
    components = [
        type_a_component("示值重复性 repeatability of the indication", list(indications)),
        resolution_component("分辨力 resolution of the display", resolution.to(FRACTION)),
    ]
    if not gas.zero:
        components.append(
            certificate_component(
                f"标准气体 gas standard {gas.tag}", gas.expanded, gas.k, sensitivity=-1.0
            )
        )
    return uncertainty_budget(
        x - reference,
        components,
        measurand="示值误差 indication error",
        coverage=coverage,
    )


def gas_materials(gases: Mapping[str, GasSpec]) -> tuple[str, ...]:
    """The reference-material tags of ``gases`` (in order, without repeats)."""
    return tuple(dict.fromkeys(g.tag for g in gases.values()))


def point_label(name: str, nominal: Any) -> BiText:
    """How a gas test point is named for people: 零点 Zero, 20 %FS …"""
    if name == "zero":
        return BiText("零点", "Zero")
    shown = display_quantity(nominal, "g")
    return BiText(f"{shown} 点", f"{shown} point")


def plan_gases(p: PlanningContext, span: Any) -> dict[str, GasSpec]:
    """Match the bench's cylinders to the table's points and set ``zero_gas`` and
    ``gas_<point>`` with their sources; use the materials; list the gas points.

    The item's ``component`` (when registered) must be what the cylinders certify.
    """
    component = p.item.spec("component")
    cylinders = [(c.port, c.tag, c.zero) for c in p.bench.cylinders]
    if not cylinders:
        raise p.refuse(f"{p.bench.name}: the bench has no gas cylinders on a dilutor")
    register = {}
    for c in p.bench.cylinders:
        rec = p.register.material(c.tag)
        if component and not c.zero and rec.component.upper() != component.upper():
            raise p.refuse(
                f"cylinder {c.tag} on port {c.port} certifies {rec.component}; the item "
                f"measures {component}"
            )
        register[c.tag] = (rec.certified, rec.expanded_uncertainty, rec.coverage_factor)
    try:
        texts = gas_parameters(p.table, span, cylinders, register)
    except ValueError as exc:
        raise p.refuse(f"{p.bench.name}: {exc}") from None
    gases: dict[str, GasSpec] = {}
    for point in p.table.points:
        key = "zero_gas" if point.name == "zero" else f"gas_{point.name}"
        spec = parse_gas(key, texts[key], zero=point.name == "zero")
        p.set(
            key,
            texts[key],
            ParameterSource.BENCH,
            f"bench dilutor port {spec.port}; register {spec.tag}",
        )
        p.use_material(spec.tag, point.name, spec.port)
        gases[point.name] = spec
        nominal = spec.certified if spec.certified is not None else ureg.Quantity(0.0, FRACTION)
        p.add_point(point.name, point_label(point.name, point.nominal), nominal)
    highest = max(
        (g.certified.to(FRACTION) for g in gases.values() if g.certified is not None),
        default=ureg.Quantity(0.0, FRACTION),
    )
    p.use_standard("gas_dilutor", "amount fraction", ureg.Quantity(0.0, FRACTION), highest)
    return gases


def gas_parameters(
    table: RegulationTable,
    span: Any,
    cylinders: Sequence[tuple[int, str, bool]],
    register: Mapping[str, tuple[Any, Any, float]],
) -> dict[str, str]:
    """The ``zero_gas`` and ``gas_<point>`` parameters for the cylinders on a dilutor.

    ``cylinders`` are ``(port, reference-material tag, is_zero)`` as a bench file lists
    them; ``register`` gives each tag's certificate data ``(value, U, k)``. The certified
    gases are matched to the table's points in order of value (lowest gas to the lowest
    point); each gas must lie within ±15 %FS of its point's nominal value. ValueError
    says what is wrong.
    """
    zeros = [c for c in cylinders if c[2]]
    if len(zeros) != 1:
        raise ValueError(f"the dilutor needs exactly one zero-gas cylinder, found {len(zeros)}")
    out = {"zero_gas": f"{zeros[0][1]}@{zeros[0][0]}"}
    gases = []
    for port, tag, is_zero in cylinders:
        if is_zero:
            continue
        cert = register.get(tag)
        if cert is None:
            raise ValueError(
                f"cylinder on port {port}: {tag!r} is not in the reference-material register"
            )
        gases.append((float(cert[0].to(FRACTION).magnitude), port, tag, cert))
    points = sorted(
        (p for p in table.points if float(p.nominal.to("percent_FS").magnitude) > 0),
        key=lambda p: float(p.nominal.to("percent_FS").magnitude),
    )
    if len(gases) != len(points):
        raise ValueError(
            f"{len(gases)} standard-gas cylinders for {len(points)} test points "
            f"({', '.join(p.name for p in points)})"
        )
    full = float(span.to(FRACTION).magnitude)
    for (value, port, tag, cert), point in zip(
        sorted(gases, key=lambda g: g[0]), points, strict=True
    ):
        nominal = full * float(point.nominal.to("percent_FS").magnitude) / 100.0
        if abs(value - nominal) > 0.15 * full:
            raise ValueError(
                f"cylinder {tag} ({value:g} {FRACTION}) is too far from point "
                f"{point.name} ({nominal:g} {FRACTION} = {point.nominal:~P} of the span)"
            )
        spec = GasSpec(tag, port, cert[0].to(FRACTION), cert[1].to(FRACTION), cert[2])
        out[f"gas_{point.name}"] = spec.text()
    return out
