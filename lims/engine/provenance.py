"""Provenance stored with each run: what was used, in which version, by whom, where."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

import lims
from lims.engine.regulation import RegulationTable
from lims.engine.sdk import Procedure
from lims.models import (
    Equipment,
    ExternalCertificate,
    IntermediateCheck,
    MeasurementStandard,
    ReferenceMaterial,
    StandardMember,
    User,
)
from lims.units import to_storage

__all__ = ["build_provenance", "identify_all", "quantity_json"]


def quantity_json(q: Any) -> dict[str, Any]:
    """A Quantity as ``{"value": magnitude, "unit": canonical unit}``."""
    magnitude, unit = to_storage(q)
    return {"value": magnitude, "unit": unit}


def identify_all(instruments: Mapping[str, Any], roles: Mapping[str, str]) -> dict[str, Any]:
    """Each instrument's ``identify()``, by role slot."""
    out: dict[str, Any] = {}
    for slot, inst in instruments.items():
        ident = inst.identify()
        data: dict[str, Any] = (
            dataclasses.asdict(ident)
            if dataclasses.is_dataclass(ident) and not isinstance(ident, type)
            else {"id": str(ident)}
        )
        out[slot] = {"role": roles.get(slot, ""), "name": getattr(inst, "name", slot), **data}
    return out


def _standard(session: Session, tag: str) -> dict[str, Any]:
    std = session.scalars(select(MeasurementStandard).where(MeasurementStandard.tag == tag)).one()
    certs = []
    for m in session.scalars(select(StandardMember).where(StandardMember.standard_id == std.id)):
        cert = session.scalars(
            select(ExternalCertificate)
            .where(ExternalCertificate.equipment_id == m.equipment_id)
            .order_by(ExternalCertificate.issued_on.desc(), ExternalCertificate.id.desc())
            .limit(1)
        ).one_or_none()
        eq = m.equipment
        certs.append(
            {
                "equipment": eq.asset_tag or f"{eq.model} {eq.serial_number}",
                "role": m.role,
                "certificate_number": cert.number if cert else None,
                "issuer": cert.issuer if cert else None,
                "valid_until": cert.valid_until.isoformat() if cert else None,
                "values": cert.values if cert else None,
            }
        )
    check = session.scalars(
        select(IntermediateCheck)
        .where(IntermediateCheck.standard_id == std.id)
        .order_by(IntermediateCheck.performed_on.desc(), IntermediateCheck.id.desc())
        .limit(1)
    ).one_or_none()
    return {
        "id": std.id,
        "tag": std.tag,
        "name_zh": std.name_zh,
        "name_en": std.name_en,
        "approval_certificate": std.approval_certificate,
        "range": std.range_text,
        "uncertainty": std.uncertainty_text,
        "certificates": certs,
        "last_intermediate_check": (
            {"on": check.performed_on.isoformat(), "passed": check.passed} if check else None
        ),
    }


def _material(session: Session, tag: str) -> dict[str, Any]:
    rm = session.scalars(select(ReferenceMaterial).where(ReferenceMaterial.tag == tag)).one()
    return {
        "id": rm.id,
        "tag": rm.tag,
        "gbw_number": rm.gbw_number,
        "name": rm.name,
        "certificate_number": rm.certificate_number,
        "certified_value": {"value": rm.certified_value, "unit": rm.unit},
        "expanded_uncertainty": {"value": rm.expanded_uncertainty, "unit": rm.unit},
        "coverage_factor": rm.coverage_factor,
        "lot": rm.lot,
        "cylinder_number": rm.cylinder_number,
        "expires_on": rm.expires_on.isoformat(),
    }


def _equipment(session: Session, asset_tag: str) -> dict[str, Any]:
    eq = session.scalars(select(Equipment).where(Equipment.asset_tag == asset_tag)).one()
    cert = session.scalars(
        select(ExternalCertificate)
        .where(ExternalCertificate.equipment_id == eq.id)
        .order_by(ExternalCertificate.issued_on.desc(), ExternalCertificate.id.desc())
        .limit(1)
    ).one_or_none()
    rng = ""
    if eq.range_max is not None and eq.range_unit:
        rng = f"{eq.range_min or 0:g} … {eq.range_max:g} {eq.range_unit}"
    return {
        "id": eq.id,
        "asset_tag": asset_tag,
        "description": eq.description,
        "range": rng,
        "accuracy": eq.accuracy,
        "certificate_number": cert.number if cert else None,
        "issuer": cert.issuer if cert else None,
        "valid_until": cert.valid_until.isoformat() if cert else None,
    }


def build_provenance(
    session: Session,
    *,
    procedure: Procedure,
    table: RegulationTable,
    instruments: Mapping[str, Any],
    standards: Sequence[str],
    reference_materials: Sequence[str],
    operator: str,
    environment: Mapping[str, Any],
    simulated: bool,
    practice: bool,
    bench_name: str,
    time_scale: float,
    equipment: Sequence[str] = (),
) -> dict[str, Any]:
    """The run's snapshot (stored in ``Run.provenance``)."""
    user = session.scalars(select(User).where(User.username == operator)).one()
    return {
        "procedure": {
            "id": procedure.id,
            "version": procedure.version,
            "title_zh": procedure.title_zh,
            "title_en": procedure.title_en,
            "kind": procedure.kind.value,
            "regulation": procedure.regulation,
            "source_file": procedure.source_path().name,
            "source_sha256": procedure.source_sha256(),
        },
        "regulation_table": {
            "procedure": table.procedure,
            "version": table.version,
            "sha256": table.sha256,
            "source": table.source,
            "status": table.release.status,
            "released_by": table.release.released_by,
            "released_at": (
                table.release.released_at.isoformat() if table.release.released_at else None
            ),
            "release_reason": table.release.reason,
            "unverified": table.unverified_keys(),
            "decision_rule": table.decision_rule.value,
        },
        "instruments": identify_all(instruments, procedure.roles),
        "standards": [_standard(session, t) for t in standards],
        "reference_materials": [_material(session, t) for t in reference_materials],
        "equipment_details": [_equipment(session, t) for t in equipment],
        "operator": {
            "username": user.username,
            "full_name": user.full_name,
            "full_name_en": user.full_name_en,
        },
        "environment": {k: quantity_json(v) for k, v in environment.items()},
        "software_version": lims.__version__,
        "simulated": simulated,
        "practice": practice,
        "bench": bench_name,
        "time_scale": time_scale,
    }
