"""Reference materials (standard gas cylinders, CRMs): receipt and checks."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from lims.models import ReferenceMaterial
from lims.units import UnitParseError, check_dimension, to_storage, ureg

_GBW_RE = re.compile(r"^GBW(?:\d{5}|\(E\)\d{6})$")


class MaterialError(ValueError):
    """Reference-material data that cannot be recorded."""


#: Components of standard gases: certified as amount fractions (µmol/mol, %mol/mol).
GAS_COMPONENTS = frozenset(
    {"CO2", "CH4", "CO", "N2O", "NO", "NO2", "SO2", "O2", "N2", "H2", "C3H8", "C2H6", "SF6"}
    | {"H2S", "NH3", "Ar", "He", "C4H10", "HCl", "HF", "C2H4", "C3H6"}
)
#: Elements certified in CRMs for elemental analyzers: mass fractions (%, mg/kg).
ELEMENTS = frozenset({"C", "H", "N", "S", "O", "Cl", "P"})


def _fraction_kind(q: Any) -> str | None:
    """'amount' or 'mass' when the unit says which fraction it is (mol/mol, g/kg), else None."""
    kinds = set()
    for name in q.units._units:
        dims = ureg.Quantity(1, name).dimensionality
        if "[substance]" in dims:
            kinds.add("amount")
        if "[mass]" in dims:
            kinds.add("mass")
    return kinds.pop() if len(kinds) == 1 else None


def certified_value_problem(component: str, certified: Any) -> str | None:
    """Why ``certified`` cannot be the certified value of ``component`` (None when it can).

    A gas component is certified as an amount fraction, an element of a CRM as a mass
    fraction; any other component as a fraction of either kind. Percent and ppm fit both.
    """
    expected = (
        "an amount fraction such as '400 umol/mol'"
        if component in GAS_COMPONENTS
        else "a mass fraction such as '71.09 %'"
        if component in ELEMENTS
        else "a fraction such as '400 umol/mol' or '71.09 %'"
    )
    if not ureg.Quantity(1, certified.units).dimensionless:
        return f"{certified:~P} is not {expected} (the certified value of {component})"
    kind = _fraction_kind(certified)
    if (component in GAS_COMPONENTS and kind == "mass") or (
        component in ELEMENTS and kind == "amount"
    ):
        return f"{certified:~P} is not {expected} (the certified value of {component})"
    return None


@dataclass(frozen=True)
class ReferenceMaterialInput:
    """What a quality manager records when a reference material arrives."""

    tag: str
    gbw_number: str
    name: str
    component: str
    certified: Any
    expanded_uncertainty: Any
    coverage_factor: float
    received_on: date
    expires_on: date
    matrix: str = ""
    lot: str = ""
    cylinder_number: str = ""
    certificate_number: str = ""
    remaining: Any = None
    minimum: Any = None

    def validate(self) -> None:
        """Raise a clear error for anything that cannot be right."""
        problem = certified_value_problem(self.component, self.certified)
        if problem is not None:
            raise MaterialError(f"--certified: {problem}")
        if not _GBW_RE.match(self.gbw_number):
            raise MaterialError(
                f"--gbw: {self.gbw_number!r} is not a GBW number "
                "(GBW + 5 digits or GBW(E) + 6 digits)"
            )
        try:
            check_dimension(self.expanded_uncertainty, self.certified.units)
        except UnitParseError as exc:
            raise MaterialError(
                f"--uncertainty: {self.expanded_uncertainty:~P} has the wrong dimension: U is "
                f"given like the certified value ({self.certified:~P})"
            ) from exc
        if self.expanded_uncertainty.magnitude <= 0:
            raise MaterialError("--uncertainty: U must be positive")
        if self.certified.magnitude < 0:
            raise MaterialError("--certified: a certified value cannot be negative")
        if not 1.0 <= self.coverage_factor <= 4.0:
            raise MaterialError(f"--k: coverage factor {self.coverage_factor} is not plausible")
        if self.expires_on <= self.received_on:
            raise MaterialError("--expires: the material expires before it was received")
        for label, q in (("--remaining", self.remaining), ("--minimum", self.minimum)):
            if q is not None:
                try:
                    check_dimension(q, "MPa", what=label)
                except UnitParseError:
                    check_dimension(q, "g", what=f"{label} (a pressure or a mass)")
        if self.remaining is not None and self.minimum is not None:
            check_dimension(self.minimum, self.remaining.units, what="--minimum")


def receive_reference_material(session: Session, data: ReferenceMaterialInput) -> ReferenceMaterial:
    """Record a received reference material (validated, audited)."""
    data.validate()
    if session.scalars(select(ReferenceMaterial).where(ReferenceMaterial.tag == data.tag)).first():
        raise MaterialError(f"--tag: reference material {data.tag} already exists")
    value, unit = to_storage(data.certified)
    remaining_unit = None
    remaining = minimum = None
    if data.remaining is not None:
        remaining, remaining_unit = to_storage(data.remaining)
    if data.minimum is not None:
        minimum = float(
            data.minimum.to(
                data.remaining.units if data.remaining is not None else data.minimum.units
            ).magnitude
        )
        remaining_unit = remaining_unit or to_storage(data.minimum)[1]
    rm = ReferenceMaterial(
        tag=data.tag,
        gbw_number=data.gbw_number,
        name=data.name,
        component=data.component,
        matrix=data.matrix,
        certified_value=value,
        expanded_uncertainty=float(data.expanded_uncertainty.to(data.certified.units).magnitude),
        coverage_factor=data.coverage_factor,
        unit=unit,
        certificate_number=data.certificate_number,
        lot=data.lot,
        cylinder_number=data.cylinder_number,
        received_on=data.received_on,
        expires_on=data.expires_on,
        remaining=remaining,
        minimum=minimum,
        remaining_unit=remaining_unit,
    )
    session.add(rm)
    session.flush()
    return rm
