"""Inter-laboratory comparisons and proficiency tests, scored by En numbers."""

from __future__ import annotations

import math
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from lims.models.quality import ProficiencyTest
from lims.models.users import User
from lims.quality.errors import QualityError
from lims.quality.permissions import Permission, require
from lims.units import UnitParseError, check_dimension, to_storage


def en_number(x_lab: float, u_lab: float, x_ref: float, u_ref: float) -> float:
    """En = (x_lab − x_ref) / √(U_lab² + U_ref²), with expanded uncertainties (k=2)."""
    if u_lab < 0 or u_ref < 0:
        raise QualityError("expanded uncertainties cannot be negative")
    denominator = math.hypot(u_lab, u_ref)
    if denominator == 0:
        raise QualityError("En needs a non-zero uncertainty of the lab or the reference value")
    return (x_lab - x_ref) / denominator


def record_proficiency_test(
    session: Session,
    actor: User,
    *,
    scheme: str,
    measurand: str,
    lab_value: Any,
    lab_uncertainty: Any,
    reference_value: Any,
    reference_uncertainty: Any,
    performed_on: date,
    provider: str = "",
    round_code: str = "",
    procedure_id: str = "",
    notes: str = "",
) -> ProficiencyTest:
    """Record a result and its En number; |En| ≤ 1 is satisfactory.

    The four values are pint Quantities of one dimension; all are stored in
    the lab value's unit.
    """
    require(actor, Permission.RECORD_PROFICIENCY)
    if not scheme.strip() or not measurand.strip():
        raise QualityError("--scheme and --measurand must not be empty")
    unit = lab_value.units
    try:
        for label, q in (
            ("--lab-u", lab_uncertainty),
            ("--ref", reference_value),
            ("--ref-u", reference_uncertainty),
        ):
            check_dimension(q, unit, what=label)
    except UnitParseError as exc:
        raise QualityError(str(exc)) from exc
    x_lab, unit_text = to_storage(lab_value)
    u_lab = float(lab_uncertainty.to(unit).magnitude)
    x_ref = float(reference_value.to(unit).magnitude)
    u_ref = float(reference_uncertainty.to(unit).magnitude)
    en = en_number(x_lab, u_lab, x_ref, u_ref)
    pt = ProficiencyTest(
        scheme=scheme.strip(),
        provider=provider,
        round_code=round_code,
        procedure_id=procedure_id,
        measurand=measurand.strip(),
        lab_value=x_lab,
        lab_uncertainty=u_lab,
        reference_value=x_ref,
        reference_uncertainty=u_ref,
        unit=unit_text,
        en=en,
        satisfactory=abs(en) <= 1.0,
        performed_on=performed_on,
        recorded_by_id=actor.id,
        notes=notes,
    )
    session.add(pt)
    session.flush()
    return pt
