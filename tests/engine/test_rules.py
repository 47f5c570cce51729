"""Each pre-run rule failure refuses the run with its reason; a quality manager's override."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from lims.audit import verify
from lims.db import Database
from lims.engine import (
    EngineError,
    RunEngine,
    RunRequest,
    StepStarted,
    grant_override,
    load_regulation_table,
)
from lims.models import (
    AuditEvent,
    Authorization,
    Equipment,
    ExternalCertificate,
    IntermediateCheck,
    MeasurementStandard,
    Reading,
    ReferenceMaterial,
    RuleOverride,
    Run,
    RunStatus,
    User,
)
from lims.models import RegulationTable as RegulationTableRow
from tests.engine import fakes
from tests.engine.conftest import TODAY, start_run
from tests.engine.sample_procedure import SampleGasProcedure

HERE = Path(__file__).resolve().parent


def _set_rm(db: Database, tag: str, **values: Any) -> dict[str, Any]:
    with db.write(actor="test-setup") as s:
        rm = s.scalars(select(ReferenceMaterial).where(ReferenceMaterial.tag == tag)).one()
        old = {k: getattr(rm, k) for k in values}
        for k, v in values.items():
            setattr(rm, k, v)
    return old


def _expire_certificate(db: Database) -> None:
    with db.write(actor="test-setup") as s:
        eq = s.scalars(select(Equipment).where(Equipment.asset_tag == "STD-GD-01")).one()
        s.add(
            ExternalCertificate(
                equipment_id=eq.id,
                issuer="test",
                number="EXPIRED-1",
                # the newest calibration (the demo's is 120 days old), whose validity ended
                calibrated_on=TODAY - timedelta(days=100),
                issued_on=TODAY - timedelta(days=98),
                valid_until=TODAY - timedelta(days=1),
            )
        )


def _fail_check(db: Database) -> None:
    with db.write(actor="test-setup") as s:
        std = s.scalars(
            select(MeasurementStandard).where(MeasurementStandard.tag == "STD-GAS-001")
        ).one()
        s.add(IntermediateCheck(standard_id=std.id, performed_on=TODAY, passed=False))


def _refused(db: Database, run_id: int) -> tuple[str, dict[str, str]]:
    with db.read() as s:
        run = s.get(Run, run_id)
        assert run is not None
        assert run.status == RunStatus.REFUSED
        assert run.last_completed_step is None
        n = s.scalar(select(func.count()).where(Reading.run_id == run_id))
        assert n == 0
        return run.status_reason, dict(run.provenance.get("rule_failures", {}))


def _expect(db: Database, key: str, words: str, **kwargs: Any) -> int:
    inst = kwargs.pop("instruments", None) or fakes.bench(1000.0)
    handle = start_run(db, inst, **kwargs)
    assert handle.wait(30) == RunStatus.REFUSED, handle.final_reason
    reason, failures = _refused(db, handle.run_id)
    assert key in failures, failures
    assert words in failures[key]
    assert words in reason
    assert set(failures) == {key}  # only this rule failed
    return handle.run_id


def test_each_rule_failure_refuses_with_its_reason(lab: Database) -> None:
    # expired or exhausted reference material
    old = _set_rm(lab, "RM-CO2-0400", expires_on=TODAY - timedelta(days=1))
    _expect(lab, "reference_material:RM-CO2-0400", "expired on")
    _set_rm(lab, "RM-CO2-0400", **old)
    old = _set_rm(lab, "RM-CO2-1000", remaining=0.5)
    _expect(lab, "reference_material:RM-CO2-1000", "exhausted")
    _set_rm(lab, "RM-CO2-1000", **old)
    # unauthorized operator (wang is an approver without authorization)
    _expect(lab, "operator", "no authorization for procedure test-gas", operator="wang")
    # an authorization outlives a change of role: the role is checked at every run
    with lab.write(actor="test-setup") as s:
        zhao = s.scalars(select(User).where(User.username == "zhao")).one()  # an auditor
        s.add(
            Authorization(
                user_id=zhao.id,
                procedure_id="test-gas",
                valid_from=TODAY - timedelta(days=1),
                valid_until=TODAY + timedelta(days=30),
            )
        )
    _expect(lab, "operator", "(auditor) may not run procedures", operator="zhao")
    # environment out of range
    inst = fakes.bench(1000.0)
    inst["env"].temperature_c = 27.5
    _expect(lab, "environment:temperature", "outside", instruments=inst)
    # draft table on a real bench; the same table runs as a simulated or practice run
    draft = SampleGasProcedure(load_regulation_table(HERE / "sample_draft.toml"))
    _expect(lab, "regulation_table", "is a draft", procedure=draft, simulated=False)
    for flags in ({"simulated": True}, {"simulated": False, "practice": True}):
        h = start_run(lab, fakes.bench(1000.0), procedure=draft, **flags)
        assert h.wait(60) == RunStatus.COMPLETED, h.final_reason
    # standard: failed intermediate check, then an expired certificate
    _fail_check(lab)
    _expect(lab, "standard:STD-GAS-001", "intermediate check")
    with lab.write(actor="test-setup") as s:
        std = s.scalars(
            select(MeasurementStandard).where(MeasurementStandard.tag == "STD-GAS-001")
        ).one()
        s.add(IntermediateCheck(standard_id=std.id, performed_on=TODAY, passed=True))
    _expire_certificate(lab)
    _expect(lab, "standard:STD-GAS-001", "EXPIRED-1")
    with lab.read() as s:
        assert verify(s).ok


def test_rule_checked_again_before_the_step_that_uses_it(lab: Database) -> None:
    holder: dict[str, Any] = {}

    def expire_p2_gas(event: Any) -> None:
        if isinstance(event, StepStarted) and event.step == "P1" and "done" not in holder:
            holder["done"] = True
            _set_rm(lab, "RM-CO2-1000", expires_on=TODAY - timedelta(days=1))

    handle = RunEngine(lab).start(
        RunRequest(
            procedure=SampleGasProcedure(),
            instruments=fakes.bench(1000.0),
            operator="zhang",
            bench_name="fake",
            simulated=True,
            time_scale=1000.0,
            standards=("STD-GAS-001",),
            reference_materials=("RM-CO2-0400",),
            auto_answer=lambda p: {"connect": True, "display_range": "2000 umol/mol"}[p.key],
        ),
        subscribers=[expire_p2_gas],
    )
    assert handle.wait(60) == RunStatus.REFUSED
    with lab.read() as s:
        run = s.get(Run, handle.run_id)
        assert run is not None
        assert run.last_completed_step == "P1"
        assert "before step P2" in run.status_reason
        assert "reference_material:RM-CO2-1000" in run.provenance["rule_failures"]


def test_quality_manager_override_is_audited_and_lets_the_run_start(lab: Database) -> None:
    _set_rm(lab, "RM-CO2-0400", expires_on=TODAY - timedelta(days=1))
    run_id = _expect(lab, "reference_material:RM-CO2-0400", "expired on")
    key = "reference_material:RM-CO2-0400"
    # only a quality manager, only with a written reason, only for a rule that failed
    attempts: list[Callable[[], Any]] = [
        lambda: grant_override(lab, run_id, key, "needed for the urgent customer job", "zhang"),
        lambda: grant_override(lab, run_id, key, "  ", "chen"),
        lambda: grant_override(lab, run_id, "operator", "not failed at all", "chen"),
    ]
    for attempt in attempts:
        with pytest.raises(EngineError):
            attempt()
    with lab.read() as s:
        assert s.scalar(select(func.count()).select_from(RuleOverride)) == 0
    reason = "复核证书：有效期延长至下月 extension letter on file"
    ov_id = grant_override(lab, run_id, key, reason, "chen")
    with lab.read() as s:
        ov = s.get(RuleOverride, ov_id)
        assert ov is not None
        assert (ov.rule, ov.reason, ov.run_id) == (key, reason, run_id)
        assert "expired on" in ov.detail
        ev = s.scalars(
            select(AuditEvent).where(
                AuditEvent.table_name == "rule_overrides", AuditEvent.record_id == str(ov_id)
            )
        ).one()
        assert (ev.actor, ev.action, ev.reason) == ("chen", "create", reason)
    # resumed with a procedure bound to another table, the run keeps its own table
    draft = SampleGasProcedure(load_regulation_table(HERE / "sample_draft.toml"))
    handle = RunEngine(lab).resume(
        run_id,
        fakes.bench(1000.0),
        procedure=draft,
        auto_answer=lambda p: {"connect": True, "display_range": "2000 umol/mol"}[p.key],
    )
    assert handle.wait(60) == RunStatus.COMPLETED, handle.final_reason
    with lab.read() as s:
        run = s.get(Run, run_id)
        assert run is not None
        assert run.provenance["overrides"] == [key]
        table = s.get(RegulationTableRow, run.regulation_table_id)
        assert table is not None
        assert table.version == SampleGasProcedure().table.version != draft.table.version
        assert verify(s).ok
