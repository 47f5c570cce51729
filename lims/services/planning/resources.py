"""What a plan is built from: the item's and the bench's data, the roles bound to the bench's
instruments, the standards and equipment on it, the register's materials and certificates.

Every function reads; nothing here writes. :mod:`lims.services.planning.service` assembles the plan.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from drivers.bench import BenchConfig, load_bench
from drivers.errors import BenchFileError
from lims.engine.rules import latest_certificate
from lims.engine.sdk import Procedure
from lims.models import (
    Equipment,
    MeasurementStandard,
    ReferenceMaterial,
    Role,
    StandardMember,
    User,
    WorkOrderItem,
)
from lims.quality.standard_certificates import certified_uncertainty, stored_values
from lims.services.planning.context import (
    BenchCylinder,
    BenchUnfitError,
    BenchView,
    ItemView,
    MaterialRecord,
    PlanError,
    Register,
)
from lims.services.planning.model import (
    PlannedEquipment,
    PlannedInstrument,
    PlannedItem,
    PlannedStandard,
)
from lims.units import display_quantity, from_storage, ureg

__all__ = [
    "bench_view",
    "bind_roles",
    "check_cylinders",
    "item_view",
    "load_bench_file",
    "material_record",
    "planned_item",
    "quality_managers",
    "register_of",
    "standards_and_equipment",
]


def load_bench_file(path: Path) -> tuple[BenchConfig, str]:
    """The bench file and its SHA-256 (PlanError with the file and line when it is wrong)."""
    try:
        bench = load_bench(path)
        data = path.read_bytes()
    except BenchFileError as exc:
        raise PlanError(str(exc)) from None
    except OSError as exc:
        raise PlanError(f"{path}: bench file cannot be read ({exc.strerror})") from None
    return bench, hashlib.sha256(data).hexdigest()


def _quantity(value: float | None, unit: str | None) -> Any | None:
    if value is None or not unit:
        return None
    return ureg.Quantity(value, ureg.parse_units(unit))


def item_view(item: WorkOrderItem) -> ItemView:
    """What the plan hook may read of a work-order item and its instrument."""
    eq = item.equipment
    specs = {str(k): str(v) for k, v in (eq.specs or {}).items()}
    return ItemView(
        item_id=item.id,
        description=eq.description,
        manufacturer=eq.manufacturer,
        model=eq.model,
        serial_number=eq.serial_number,
        range_min=_quantity(eq.range_min if eq.range_min is not None else 0.0, eq.range_unit)
        if eq.range_max is not None
        else None,
        range_max=_quantity(eq.range_max, eq.range_unit),
        accuracy_text=eq.accuracy or "",
        specs=specs,
        decision_rule=item.decision_rule,
    )


def planned_item(item: WorkOrderItem, view: ItemView) -> PlannedItem:
    """The item as the plan records it (texts, for the certificate and the checklist)."""
    eq = item.equipment
    rng = "—"
    if view.range_max is not None and view.range_min is not None:
        rng = f"{display_quantity(view.range_min, 'g')} … {display_quantity(view.range_max, 'g')}"
    return PlannedItem(
        item_id=item.id,
        work_order=item.work_order.number,
        service=item.service,
        description=eq.description,
        manufacturer=eq.manufacturer,
        model=eq.model,
        serial_number=eq.serial_number,
        range_text=rng,
        accuracy=eq.accuracy or "",
        specs=tuple(sorted(view.specs.items())),
    )


def bench_view(bench: BenchConfig) -> BenchView:
    """What the plan hook may read of a bench: roles, cylinders, materials."""
    roles: dict[str, list[str]] = {}
    cylinders: list[BenchCylinder] = []
    for name, cfg in bench.instruments.items():
        roles.setdefault(cfg.role, []).append(name)
        for c in cfg.cylinders:
            cylinders.append(
                BenchCylinder(
                    port=c.port,
                    tag=c.id,
                    zero=c.zero,
                    component=c.component,
                    declared_value=None if c.zero else c.certified,
                    declared_u=None if c.zero else c.U,
                    declared_k=None if c.zero else c.k,
                )
            )
    return BenchView(
        name=bench.name,
        simulated=bench.simulated,
        roles={k: tuple(v) for k, v in roles.items()},
        cylinders=tuple(cylinders),
        materials=dict(bench.materials),
    )


def material_record(rm: ReferenceMaterial) -> MaterialRecord:
    """A reference material as the plan hook sees it."""
    return MaterialRecord(
        tag=rm.tag,
        gbw_number=rm.gbw_number,
        name=rm.name,
        component=rm.component,
        certified=from_storage(rm.certified_value, rm.unit),
        expanded_uncertainty=from_storage(rm.expanded_uncertainty, rm.unit),
        coverage_factor=float(rm.coverage_factor),
        lot=rm.lot,
        expires_on=rm.expires_on.isoformat(),
        status=rm.status.value,
    )


# --------------------------------------------------------------------------- bench


def bind_roles(proc: Procedure, bench: BenchConfig, path: Path) -> list[PlannedInstrument]:
    """Each role slot of the procedure bound to the one instrument of the bench in that role
    (BenchUnfitError when the bench has none or several)."""
    out: list[PlannedInstrument] = []
    for slot, role in proc.roles.items():
        names = [n for n, c in bench.instruments.items() if c.role == role]
        if len(names) != 1:
            found = ", ".join(names) or "none"
            raise BenchUnfitError(
                f"{path.name}: 工作台不适用 this bench does not fit procedure {proc.id}: it needs "
                f"one {role!r} instrument for role {slot!r} (found: {found})"
            )
        cfg = bench.instruments[names[0]]
        out.append(
            PlannedInstrument(
                slot=slot,
                role=role,
                bench_instrument=cfg.name,
                driver=cfg.driver,
                asset_tag=cfg.asset_tag,
                under_test=role == proc.under_test,
            )
        )
    if proc.under_test is not None and proc.under_test not in proc.roles.values():
        names = [n for n, c in bench.instruments.items() if c.role == proc.under_test]
        if len(names) != 1:
            raise BenchUnfitError(
                f"{path.name}: 工作台不适用 this bench does not fit procedure {proc.id}: it needs "
                f"one instrument under test in role {proc.under_test!r} "
                f"(found: {', '.join(names) or 'none'})"
            )
        cfg = bench.instruments[names[0]]
        out.append(
            PlannedInstrument(
                slot="",
                role=cfg.role,
                bench_instrument=cfg.name,
                driver=cfg.driver,
                asset_tag=cfg.asset_tag,
                under_test=True,
            )
        )
    return out


def standards_and_equipment(
    session: Session, bench: BenchConfig, path: Path, instruments: Sequence[PlannedInstrument]
) -> tuple[list[PlannedStandard], list[PlannedEquipment]]:
    """Standards whose every member is on the bench; other lab equipment on its own."""
    tags: dict[str, Any] = {}
    for cfg in bench.instruments.values():
        tag = cfg.asset_tag
        if tag:
            tags[tag] = cfg
    if not tags:
        return _standards_by_role(session, bench), []
    found: dict[str, Equipment] = {
        eq.asset_tag: eq
        for eq in session.scalars(select(Equipment).where(Equipment.asset_tag.in_(list(tags))))
        if eq.asset_tag is not None
    }
    missing = sorted(set(tags) - set(found))
    if missing:
        raise PlanError(
            f"{path.name}: asset tag {missing[0]!r} of instrument {tags[missing[0]].name!r} is "
            "not in the lab's equipment register"
        )
    ids: dict[int, str] = {eq.id: tag for tag, eq in found.items()}
    standards: list[PlannedStandard] = []
    covered: set[str] = set()
    rows = session.execute(
        select(MeasurementStandard, StandardMember.equipment_id).join(
            StandardMember, StandardMember.standard_id == MeasurementStandard.id
        )
    ).all()
    members: dict[int, tuple[MeasurementStandard, list[int]]] = {}
    for std, eq_id in rows:
        members.setdefault(std.id, (std, []))[1].append(eq_id)
    for std, eq_ids in sorted(members.values(), key=lambda m: m[0].tag):
        if eq_ids and all(i in ids for i in eq_ids):
            certs = []
            for i in eq_ids:
                cert = latest_certificate(session, i)
                certs.append(cert.number if cert else "—")
            standards.append(
                PlannedStandard(
                    std.tag,
                    f"{std.name_zh} {std.name_en}",
                    tuple(sorted(ids[i] for i in eq_ids)),
                    tuple(certs),
                    tuple(sorted({tags[ids[i]].role for i in eq_ids})),
                )
            )
            covered.update(ids[i] for i in eq_ids)
    equipment: list[PlannedEquipment] = []
    for tag in sorted(set(tags) - covered):
        eq = found[tag]
        cert = latest_certificate(session, eq.id)
        equipment.append(
            PlannedEquipment(
                asset_tag=tag,
                description=eq.description,
                role=tags[tag].role,
                certificate=cert.number if cert else "—",
                valid_until=cert.valid_until.isoformat() if cert else "—",
            )
        )
    return standards, equipment


def _standards_by_role(session: Session, bench: BenchConfig) -> list[PlannedStandard]:
    """Benches that name no asset tag: the standards with a member in one of its roles."""
    roles = {c.role for c in bench.instruments.values()}
    out: dict[str, PlannedStandard] = {}
    rows = session.execute(
        select(MeasurementStandard, StandardMember).join(
            StandardMember, StandardMember.standard_id == MeasurementStandard.id
        )
    ).all()
    for std, member in rows:
        if member.role in roles and std.tag not in out:
            eq_ids = [m.equipment_id for m in std.members]
            certs = []
            for i in eq_ids:
                cert = latest_certificate(session, i)
                certs.append(cert.number if cert else "—")
            out[std.tag] = PlannedStandard(
                std.tag,
                f"{std.name_zh} {std.name_en}",
                tuple(sorted(m.equipment.asset_tag or str(m.equipment_id) for m in std.members)),
                tuple(certs),
                tuple(sorted({m.role for m in std.members if m.role in roles})),
            )
    return [out[k] for k in sorted(out)]


def check_cylinders(view: BenchView, register: Register, path: Path) -> None:
    """A bench's declared cylinder values must agree with the register."""
    for c in view.cylinders:
        rec = register.material(c.tag)
        if c.zero:
            continue
        for what, declared, registered in (
            ("certified value", c.declared_value, rec.certified),
            ("expanded uncertainty U", c.declared_u, rec.expanded_uncertainty),
        ):
            if declared is None:
                continue
            try:
                agree = abs(float((declared - registered).to(registered.units).magnitude)) <= (
                    1e-9 * max(abs(float(registered.magnitude)), 1e-12)
                )
            except Exception:  # a different dimension never agrees
                agree = False
            if not agree:
                raise PlanError(
                    f"{path.name}: cylinder {c.tag} on port {c.port}: the bench file states "
                    f"{what} {display_quantity(declared, 'g')}, the register "
                    f"{display_quantity(registered, 'g')}; correct the bench file or the register"
                )
        if c.declared_k is not None and abs(c.declared_k - rec.coverage_factor) > 1e-9:
            raise PlanError(
                f"{path.name}: cylinder {c.tag} on port {c.port}: the bench file states "
                f"k = {c.declared_k:g}, the register k = {rec.coverage_factor:g}"
            )


# --------------------------------------------------------------------------- planning


def register_of(session: Session, bench: BenchConfig) -> Register:
    """The register the plan hook reads: materials and the certified U of bench standards."""

    def material(tag: str) -> MaterialRecord | None:
        rm = session.scalars(
            select(ReferenceMaterial).where(ReferenceMaterial.tag == tag)
        ).one_or_none()
        return None if rm is None else material_record(rm)

    def standard_uncertainty(role: str) -> tuple[Any, float] | None:
        for cfg in bench.instruments.values():
            tag = cfg.asset_tag
            if cfg.role != role or not tag:
                continue
            eq = session.scalars(select(Equipment).where(Equipment.asset_tag == tag)).one_or_none()
            cert = latest_certificate(session, eq.id) if eq is not None else None
            found = certified_uncertainty(cert.values) if cert is not None else None
            if found is not None:
                return found
        return None

    def standard_value(role: str, dimension: str) -> tuple[Any, Any, float] | None:
        like = ureg.Quantity(1.0, dimension).dimensionality
        for cfg in bench.instruments.values():
            tag = cfg.asset_tag
            if cfg.role != role or not tag:
                continue
            eq = session.scalars(select(Equipment).where(Equipment.asset_tag == tag)).one_or_none()
            cert = latest_certificate(session, eq.id) if eq is not None else None
            for v in stored_values(cert.values)[0] if cert is not None else []:
                if v.value is not None and v.value.dimensionality == like:
                    u = (
                        v.expanded_uncertainty
                        if v.expanded_uncertainty is not None
                        else v.value * 0
                    )
                    return v.value, u, v.k if v.k is not None else 2.0
        return None

    return Register(material, standard_uncertainty, standard_value)


def quality_managers(session: Session, names: Sequence[str]) -> dict[str, bool]:
    """Which of ``names`` are active quality managers (who may approve deviations)."""
    out: dict[str, bool] = {}
    for name in names:
        user = session.scalars(select(User).where(User.username == name)).one_or_none()
        out[name] = bool(user and user.active and user.has_role(Role.QUALITY_MANAGER))
    return out
