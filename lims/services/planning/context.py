"""What a procedure sees while its run is planned: the item, the bench, the lab's register.

A procedure's :meth:`~lims.engine.sdk.Procedure.plan` hook receives a
:class:`PlanningContext`. Declared parameters are already resolved (item → table →
procedure default, with operator values and quality-manager deviations applied); the hook
derives what depends on them (a transitional flow, the test currents, which cylinder
feeds which point), chooses the materials it consumes and lists the test points. It never
opens a database session: the register is read through :class:`Register`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from lims.engine.regulation import RegulationTable
from lims.services.planning.model import (
    ParameterSource,
    PlannedMaterial,
    PlannedPoint,
    PlannedUse,
    PlannedValue,
)
from lims.units import display_quantity, from_storage, ureg
from lims.vocabulary import BiText

__all__ = [
    "BenchCylinder",
    "BenchUnfitError",
    "BenchView",
    "ItemView",
    "MaterialRecord",
    "PlanError",
    "PlanningContext",
    "Register",
]


class PlanError(ValueError):
    """The run cannot be planned: the message says what and where. Nothing is written."""


class BenchUnfitError(PlanError):
    """The bench does not fit the procedure or the item (refused before any run)."""


@dataclass(frozen=True)
class ItemView:
    """The work-order item's registered data, typed."""

    item_id: int
    description: str
    manufacturer: str
    model: str
    serial_number: str
    range_min: Any | None
    range_max: Any | None
    accuracy_text: str
    specs: Mapping[str, str]
    decision_rule: str | None

    @property
    def span(self) -> Any | None:
        """Upper minus lower range limit (the full scale of a 0-based range)."""
        if self.range_max is None:
            return None
        low = self.range_min if self.range_min is not None else self.range_max * 0
        return self.range_max - low

    def spec(self, name: str) -> str | None:
        """A nameplate datum as registered (text), or None."""
        value = self.specs.get(name)
        return value.strip() if isinstance(value, str) and value.strip() else None


@dataclass(frozen=True)
class BenchCylinder:
    """A gas cylinder the bench file puts on a dilutor port."""

    port: int
    tag: str
    zero: bool
    component: str
    declared_value: Any | None
    declared_u: Any | None
    declared_k: float | None


@dataclass(frozen=True)
class BenchView:
    """What the bench file says, as far as planning needs it."""

    name: str
    simulated: bool
    roles: Mapping[str, tuple[str, ...]]
    """Role → names of the bench's instruments in that role."""
    cylinders: tuple[BenchCylinder, ...]
    materials: Mapping[str, str]
    """Purpose → reference-material tag the bench holds (not on a dilutor port)."""


@dataclass(frozen=True)
class MaterialRecord:
    """A reference material as the register holds it."""

    tag: str
    gbw_number: str
    name: str
    component: str
    certified: Any
    expanded_uncertainty: Any
    coverage_factor: float
    lot: str
    expires_on: str
    status: str


class Register:
    """Read access to the lab's register for planning (materials, standards' values and U)."""

    def __init__(
        self,
        materials: Callable[[str], MaterialRecord | None],
        standard_uncertainty: Callable[[str], tuple[Any, float] | None],
        standard_value: Callable[[str, str], tuple[Any, Any, float] | None] | None = None,
    ) -> None:
        self._materials = materials
        self._standard_u = standard_uncertainty
        self._standard_value = standard_value

    def material(self, tag: str) -> MaterialRecord:
        """The register's record of ``tag`` (PlanError when it is not registered)."""
        rec = self._materials(tag)
        if rec is None:
            raise PlanError(f"标准物质未登记 reference material {tag!r} is not in the register")
        return rec

    def standard_uncertainty(self, role: str) -> tuple[Any, float] | None:
        """(U, k) stated on the current certificate of the bench's standard in ``role``."""
        return self._standard_u(role)

    def standard_value(self, role: str, dimension: str) -> tuple[Any, Any, float] | None:
        """(value, U, k) of the first certified value of the dimension of ``dimension`` (a
        unit, e.g. ``kg/m``) on the current certificate of the bench's standard in ``role``
        (a test chain's linear mass, a test weight's mass), or None."""
        if self._standard_value is None:
            return None
        return self._standard_value(role, dimension)


class PlanningContext:
    """The planner's working state for one run (see the module docstring)."""

    def __init__(
        self,
        *,
        table: RegulationTable,
        item: ItemView,
        bench: BenchView,
        register: Register,
        declared: Mapping[str, Any],
        values: dict[str, PlannedValue],
    ) -> None:
        self.table = table
        self.item = item
        self.bench = bench
        self.register = register
        self._declared = declared
        self._values = values
        self.points: list[PlannedPoint] = []
        self.materials: list[PlannedMaterial] = []
        self.standard_uses: list[PlannedUse] = []

    # ------------------------------------------------------------------ parameters

    def value(self, name: str) -> Any:
        """The typed value of parameter ``name`` (None when absent)."""
        planned = self._values.get(name)
        if planned is None:
            return None
        decl = self._declared.get(name)
        return decl.parse(planned.text) if decl is not None else planned.text

    def source(self, name: str) -> ParameterSource | None:
        """Where parameter ``name`` came from, or None when it is not set."""
        planned = self._values.get(name)
        return planned.source if planned is not None else None

    def set(self, name: str, value: Any, source: ParameterSource, origin: str) -> None:
        """Set a derived parameter (a Quantity or a text) with where it came from.

        A value already given by the item or a recorded deviation is kept: derivations fill
        only what the lab's records leave open.
        """
        current = self._values.get(name)
        if current is not None and current.source in (
            ParameterSource.ITEM,
            ParameterSource.OVERRIDE,
            ParameterSource.OPERATOR,
        ):
            return
        decl = self._declared.get(name)
        title = decl.title if decl is not None else name
        text = _text(value)
        if decl is not None:
            decl.parse(text)  # a derived value must satisfy the declaration too
        self._values[name] = PlannedValue(name, title, text, source, origin)

    def refuse(self, message: str) -> PlanError:
        """An error to raise: the run cannot be planned, for the reason given."""
        return PlanError(message)

    # ------------------------------------------------------------------ points, materials

    def add_point(self, key: str, label: BiText, nominal: Any | None = None) -> None:
        """A test point the run will measure (in measuring order)."""
        if any(p.key == key for p in self.points):
            raise PlanError(f"test point {key!r} planned twice")
        text = "" if nominal is None else _text(nominal)
        self.points.append(PlannedPoint(key, label, text))

    def use_material(self, tag: str, purpose: str, port: int | None = None) -> MaterialRecord:
        """Use (or consume) reference material ``tag`` for ``purpose``; returns its record."""
        rec = self.register.material(tag)
        self.materials.append(
            PlannedMaterial(
                tag=rec.tag,
                purpose=purpose,
                gbw_number=rec.gbw_number,
                certified=display_quantity(rec.certified, "g"),
                expanded_uncertainty=display_quantity(rec.expanded_uncertainty, "g"),
                coverage_factor=rec.coverage_factor,
                lot=rec.lot,
                expires_on=rec.expires_on,
                port=port,
            )
        )
        return rec

    def use_standard(self, role: str, quantity: str, low: Any, high: Any) -> None:
        """The run uses the standard on bench role ``role`` from ``low`` to ``high`` of
        ``quantity``; the run rules refuse a span outside its calibrated range."""
        if low.dimensionality != high.dimensionality:
            raise PlanError(f"use of {role}: {low:~P} and {high:~P} differ in dimension")
        if high.to(low.units).magnitude < low.magnitude:
            low, high = high, low
        use = PlannedUse(role, quantity, _text(low), _text(high))
        if use not in self.standard_uses:
            self.standard_uses.append(use)

    def bench_material(self, purpose: str) -> str:
        """The tag of the material the bench holds for ``purpose`` (PlanError if none)."""
        tag = self.bench.materials.get(purpose)
        if tag is None:
            raise PlanError(
                f"{self.bench.name}: the bench names no reference material for {purpose!r} "
                f"(add it under [materials], or give --material {purpose}=TAG)"
            )
        return tag


def _text(value: Any) -> str:
    if hasattr(value, "units"):
        magnitude = float(value.magnitude)
        return f"{magnitude!r} {value.units:D}"
    return str(value)


def stored_quantity(magnitude: float, unit: str) -> Any:
    """A register value as a Quantity."""
    return from_storage(magnitude, unit) if unit else ureg.Quantity(magnitude)
