"""Reverse traceability across two in-house levels, and the impact record it opens."""

from __future__ import annotations

from datetime import date

import pytest

from lims.db import Database
from lims.models import EquipmentStatus, ImpactAssessment, MeasurementStandard, Role
from lims.quality.errors import NotFoundError
from lims.quality.trace import record_out_of_tolerance, reverse_trace
from tests.quality._build import (
    SYSTEM,
    add_certificate,
    add_in_house_certificate,
    add_run,
    add_standard,
    build_lab,
)


def _chain(db: Database) -> dict[str, int]:
    """RM-A → (in-house run r2) → STD-DIL → (in-house run r5) → STD-2; plus decoys."""
    lab = build_lab(db, [Role.TECHNICIAN, Role.QUALITY_MANAGER, Role.AUDITOR])
    ids: dict[str, int] = {}
    with db.write(actor=SYSTEM, reason="trace fixture") as s:
        _std1, eq1 = add_standard(s, "STD-DIL", "EQ-DIL")
        _std2, eq2 = add_standard(s, "STD-2", "EQ-2")
        ids["r1"] = add_run(s, lab, date(2026, 1, 10), ["RM-A"], serial="S1")
        ids["r2"] = add_run(s, lab, date(2026, 2, 10), ["RM-A"])  # calibrates EQ-DIL
        add_in_house_certificate(s, eq1, ids["r2"], date(2026, 2, 10))
        ids["r3"] = add_run(s, lab, date(2026, 2, 1), ["STD-DIL"], serial="S3")  # before cal
        ids["r4"] = add_run(s, lab, date(2026, 2, 20), ["STD-DIL", "RM-B"], serial="S4")
        ids["r5"] = add_run(s, lab, date(2026, 3, 5), ["STD-DIL"])  # calibrates EQ-2
        add_in_house_certificate(s, eq2, ids["r5"], date(2026, 3, 5))
        ids["r6"] = add_run(s, lab, date(2026, 3, 10), ["STD-2"], serial="S6")
        ids["r7"] = add_run(s, lab, date(2026, 3, 10), ["RM-B"], serial="S7")  # unrelated
        for r in ("r1", "r3", "r4", "r6", "r7"):
            ids["c" + r[1:]] = add_certificate(s, ids[r])
    ids["qm"] = lab.users[Role.QUALITY_MANAGER].id
    ids["auditor"] = lab.users[Role.AUDITOR].id
    return ids


def test_reverse_trace_two_levels_exact(db: Database) -> None:
    ids = _chain(db)
    from tests.quality._build import detached

    auditor = detached(db, ids["auditor"])
    with db.read() as s:
        result = reverse_trace(s, auditor, "RM-A")
    assert [r.run_id for r in result.runs] == sorted(ids[k] for k in ("r1", "r2", "r4", "r5", "r6"))
    assert [c.certificate_id for c in result.certificates] == sorted(
        ids[k] for k in ("c1", "c4", "c6")
    )
    via = {c.certificate_id: c.via for c in result.certificates}
    assert via[ids["c6"]] == ("RM-A", "STD-DIL", "STD-2")
    assert via[ids["c4"]] == ("RM-A", "STD-DIL")

    with db.read() as s:
        since = reverse_trace(s, auditor, "RM-A", since=date(2026, 2, 1))
    assert {r.run_id for r in since.runs} == {ids[k] for k in ("r2", "r4", "r5", "r6")}
    assert {c.certificate_id for c in since.certificates} == {ids["c4"], ids["c6"]}


def test_unknown_tag_is_refused(db: Database) -> None:
    ids = _chain(db)
    from tests.quality._build import detached

    with db.read() as s, pytest.raises(NotFoundError, match="NOPE"):
        reverse_trace(s, detached(db, ids["auditor"]), "NOPE")


def test_out_of_tolerance_opens_impact_record(db: Database) -> None:
    ids = _chain(db)
    from tests.quality._build import detached

    qm = detached(db, ids["qm"])
    with db.write(actor=qm, reason="期间核查超差 check failed") as s:
        impact = record_out_of_tolerance(
            s,
            qm,
            "STD-DIL",
            finding="span error 1.8 % > 1 %",
            found_on=date(2026, 3, 20),
            since=date(2026, 2, 15),
        )
        impact_id = impact.id
    with db.read() as s:
        rec = s.get(ImpactAssessment, impact_id)
        assert rec is not None
        # runs of STD-DIL from 2026-02-15: r4, r5 (and r6 through STD-2); certificates c4, c6.
        assert sorted(rec.affected["runs"]) == sorted(ids[k] for k in ("r4", "r5", "r6"))
        assert sorted(c["id"] for c in rec.affected["certificates"]) == sorted(
            [ids["c4"], ids["c6"]]
        )
        std = s.query(MeasurementStandard).filter_by(tag="STD-DIL").one()
        assert std.status == EquipmentStatus.OUT_OF_SERVICE
