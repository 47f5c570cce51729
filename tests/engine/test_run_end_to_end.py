"""A small procedure runs end to end with fake instruments; provenance and results."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

import lims
from lims.audit import verify
from lims.db import Database
from lims.engine import (
    EngineError,
    PromptRequested,
    ReadingsCommitted,
    ResultRecorded,
    ResumeError,
    RunEngine,
    RunRequest,
    StateChanged,
    StepFinished,
)
from lims.models import Reading, Result, Run, RunResource, RunStatus
from lims.results_legacy import record_of
from tests.engine import fakes
from tests.engine.conftest import Recorder, start_run
from tests.engine.sample_procedure import SampleGasProcedure


def test_run_completes_with_results_and_provenance(lab: Database) -> None:
    inst = fakes.bench(1000.0, gain=1.01, offset=2.0)
    rec = Recorder()
    handle = start_run(lab, inst, recorder=rec)
    assert handle.wait(60) == RunStatus.COMPLETED, handle.final_reason

    states = [e.new for e in rec.of(StateChanged)]
    assert states == [RunStatus.RUNNING, RunStatus.COMPLETED]
    assert [e.step for e in rec.of(StepFinished)] == ["setup", "P1", "P2", "summary"]
    assert all(i.safe_calls >= 1 for i in inst.values())

    with lab.read() as s:
        run = s.get(Run, handle.run_id)
        assert run is not None
        assert run.last_completed_step == "summary"
        readings = s.scalars(
            select(Reading).where(Reading.run_id == run.id).order_by(Reading.seq)
        ).all()
        results = {
            r.test_point: r for r in s.scalars(select(Result).where(Result.run_id == run.id))
        }
        resources = {
            r.tag for r in s.scalars(select(RunResource).where(RunResource.run_id == run.id))
        }
        prov = run.provenance
        env = run.environment
        s.expunge_all()

    # every reading is stored once, in sequence, with its unit
    assert [r.seq for r in readings] == list(range(1, len(readings) + 1))
    assert rec.of(ReadingsCommitted)[-1].last_seq == len(readings)
    entered = [r for r in readings if r.quantity == "display_range"]
    assert len(entered) == 1
    assert entered[0].magnitude == 2000.0
    assert entered[0].source == "operator"

    # results: independent expectation from the fake's gain/offset after settling
    for name, certified in (("P1", 400.0), ("P2", 1000.0)):
        ind = [r for r in readings if r.test_point == name and r.quantity == "indication"]
        assert len(ind) == 3
        expected_indication = 1.01 * certified + 2.0
        for r in ind:
            assert abs(r.magnitude - expected_indication) < 0.3
            assert r.unit == "micromole / mole"
        result = results[name]
        assert result.first_seq == ind[0].seq
        assert result.last_seq == ind[-1].seq
        err = record_of(result).value
        expected_fs = (expected_indication - certified) / 2000.0 * 100
        assert abs(err.to("percent_FS").magnitude - expected_fs) < 0.3 / 2000 * 100
        stab = [
            r
            for r in readings
            if r.test_point == name and r.quantity.endswith("stabilization_time")
        ]
        assert len(stab) == 1
        assert stab[0].unit == "second"
        assert stab[0].magnitude > 8.0  # at least one full stability window
    assert len(rec.of(ResultRecorded)) == 2

    # provenance
    assert prov["procedure"]["id"] == "test-gas"
    assert len(prov["procedure"]["source_sha256"]) == 64
    assert prov["regulation_table"]["version"] == "T1"
    assert prov["regulation_table"]["status"] == "released"
    assert len(prov["regulation_table"]["sha256"]) == 64
    assert prov["instruments"]["analyzer"]["serial"] == "CA-1"
    assert prov["standards"][0]["tag"] == "STD-GAS-001"
    assert all(c["certificate_number"] for c in prov["standards"][0]["certificates"])
    rm = {m["tag"]: m for m in prov["reference_materials"]}
    assert rm["RM-CO2-1000"]["certified_value"] == {"value": 1000.0, "unit": "micromole / mole"}
    assert rm["RM-CO2-1000"]["certificate_number"] == "RMC-GBW(E)062141"
    assert prov["operator"]["username"] == "zhang"
    assert prov["software_version"] == lims.__version__
    assert prov["simulated"] is True
    assert env["temperature"]["value"] == 21.0
    assert resources == {"STD-GAS-001", "RM-CO2-0400", "RM-CO2-1000"}

    with lab.read() as s:
        assert verify(s).ok


def test_bad_input_is_refused_and_changes_nothing(lab: Database) -> None:
    engine = RunEngine(lab)
    base = {
        "procedure": SampleGasProcedure(),
        "instruments": fakes.bench(1000.0),
        "operator": "zhang",
        "bench_name": "fake",
        "simulated": True,
    }
    with pytest.raises(ValueError, match=r"parameter 'span'.*wrong dimension"):
        engine.start(RunRequest(**{**base, "parameters": {"span": "20 degC"}}))
    with pytest.raises(EngineError, match="needs instruments for roles env"):
        engine.start(
            RunRequest(
                **{
                    **base,
                    "instruments": {k: v for k, v in base["instruments"].items() if k != "env"},
                }
            )
        )
    with pytest.raises(EngineError, match="unknown operator 'nobody'"):
        engine.start(RunRequest(**{**base, "operator": "nobody"}))
    with lab.read() as s:
        assert s.scalar(select(func.count()).select_from(Run)) == 0


def test_resume_refuses_finished_unknown_or_live_runs(lab: Database) -> None:
    engine = RunEngine(lab)
    with pytest.raises(ResumeError, match="no run 999"):
        engine.resume(999, fakes.bench(1000.0), procedure=SampleGasProcedure())
    rec = Recorder()
    handle = start_run(lab, fakes.bench(1000.0), answers={}, recorder=rec)
    deadline = 0
    while not rec.of(PromptRequested) and deadline < 600:
        handle.wait(0.05)
        deadline += 1
    with pytest.raises(ResumeError, match="is executed by process"):
        engine.resume(handle.run_id, fakes.bench(1000.0), procedure=SampleGasProcedure())
    handle.abort()
    assert handle.wait(30) == RunStatus.ABORTED
    with pytest.raises(ResumeError, match="is aborted: it cannot be resumed"):
        engine.resume(handle.run_id, fakes.bench(1000.0), procedure=SampleGasProcedure())
