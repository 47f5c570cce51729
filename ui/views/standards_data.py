"""What the standards view shows, loaded on a worker thread: standards with their due
dates, reference materials in stock with their warnings, a standard's detail."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from lims.db import Database
from lims.models.users import User
from lims.quality.due import due_list
from lims.quality.errors import QualityError
from lims.quality.materials import get_material
from lims.quality.standards import (
    ControlChart,
    calibration_history,
    control_chart,
    get_standard,
)
from lims.services.lab_register import lab_equipment
from ui.widgets import short_unit

#: A horizon long enough to list every standard and material with its due date.
_ALL_DAYS = 365 * 100


@dataclass(frozen=True)
class StandardRow:
    """One standard in the table."""

    tag: str
    name_zh: str
    name_en: str
    status: str
    certificate_due: date | None  # None: a member has no certificate
    check_due: date | None
    days_left: int | None  # to the earliest due date; None when a certificate is missing


@dataclass(frozen=True)
class MaterialRow:
    """One reference-material unit in stock."""

    tag: str
    gbw_number: str
    name: str
    value: str
    lot: str
    remaining: str
    status: str
    expires_on: date
    days_left: int
    #: The amount left and the minimum usable, in one unit (None when not tracked).
    left: float | None = None
    minimum: float | None = None

    def low(self, percent: int) -> bool:
        """Whether less than ``percent`` % above the minimum is left."""
        if self.left is None or self.minimum is None:
            return False
        return self.left < self.minimum * (1 + percent / 100)


@dataclass(frozen=True)
class CertificateRow:
    """One certificate of a standard's member."""

    number: str
    issuer: str
    equipment: str
    calibrated_on: date
    valid_until: date
    revision: int


@dataclass(frozen=True)
class StandardDetail:
    """Everything the detail panel shows."""

    tag: str
    name_zh: str
    name_en: str
    status: str
    status_reason: str
    measurand: str
    range_text: str
    uncertainty_text: str
    history: list[CertificateRow]
    charts: list[ControlChart] = field(default_factory=list)
    chart_problems: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Overview:
    """The standards, the reference materials in stock and the lab's equipment."""

    standards: list[StandardRow]
    materials: list[MaterialRow]
    #: (text, asset tag) of the lab's equipment, for recording a certificate.
    equipment: list[tuple[str, str]]


def load_overview(db: Database, actor: User, today: date) -> Overview:
    """Standards with their next due dates and the reference materials in stock."""
    with db.read() as s:
        items = due_list(s, actor, today, within_days=_ALL_DAYS)
        cert_due: dict[str, date | None] = {}
        check_due: dict[str, date] = {}
        missing: set[str] = set()
        material_tags: list[str] = []
        for it in items:
            if it.kind == "standard_certificate":
                prev = cert_due.get(it.tag)
                cert_due[it.tag] = it.due_on if prev is None else min(prev, it.due_on)
            elif it.kind == "no_certificate":
                missing.add(it.tag)
            elif it.kind == "intermediate_check":
                check_due[it.tag] = it.due_on
            elif it.kind == "reference_material":
                material_tags.append(it.tag)
        standards: list[StandardRow] = []
        for tag in sorted(set(cert_due) | missing | set(check_due)):
            std = get_standard(s, tag)
            cd = None if tag in missing else cert_due.get(tag)
            dues = [d for d in (cd, check_due.get(tag)) if d is not None]
            days = None if tag in missing or not dues else (min(dues) - today).days
            standards.append(
                StandardRow(
                    tag, std.name_zh, std.name_en, std.status.value, cd, check_due.get(tag), days
                )
            )
        materials: list[MaterialRow] = []
        for tag in sorted(material_tags):
            rm = get_material(s, tag)
            unit = short_unit(rm.unit)
            remaining = (
                f"{rm.remaining:g} {short_unit(rm.remaining_unit)}".strip()
                if rm.remaining is not None
                else ""
            )
            materials.append(
                MaterialRow(
                    rm.tag,
                    rm.gbw_number,
                    rm.name,
                    f"{rm.certified_value:g} ± {rm.expanded_uncertainty:g} {unit} "
                    f"(k={rm.coverage_factor:g})",
                    " / ".join(x for x in (rm.lot, rm.cylinder_number) if x),
                    remaining,
                    rm.status.value,
                    rm.expires_on,
                    (rm.expires_on - today).days,
                    rm.remaining,
                    rm.minimum,
                )
            )
        equipment = [
            (f"{e.asset_tag} · {e.description} {e.model} {e.serial_number}", e.asset_tag)
            for e in lab_equipment(s, actor)
        ]
    return Overview(standards, materials, equipment)


def load_detail(db: Database, actor: User, tag: str) -> StandardDetail:
    """A standard's details, certificate history and control charts."""
    with db.read() as s:
        std = get_standard(s, tag)
        history = [
            CertificateRow(
                c.number,
                c.issuer,
                c.equipment.asset_tag or c.equipment.serial_number,
                c.calibrated_on,
                c.valid_until,
                c.revision,
            )
            for c in calibration_history(s, actor, tag)
        ]
        quantities = sorted({c.quantity for c in std.checks if c.measured is not None})
        charts: list[ControlChart] = []
        problems: list[str] = []
        for q in quantities:
            try:
                charts.append(control_chart(s, actor, tag, q))
            except QualityError as exc:
                problems.append(str(exc))
        return StandardDetail(
            std.tag,
            std.name_zh,
            std.name_en,
            std.status.value,
            std.status_reason,
            std.measurand,
            std.range_text,
            std.uncertainty_text,
            history,
            charts,
            problems,
        )
