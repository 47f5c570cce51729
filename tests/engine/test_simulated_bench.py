"""The sample procedure on the driver layer's simulated bench (real drivers over loopback):
a no-reply fault pauses the run; after the fault clears, resume completes it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import select

from drivers.bench import load_bench, open_instruments
from drivers.sim import SimulatedBench
from lims.db import Database
from lims.engine import (
    ReadingTaken,
    RunEngine,
    RunRequest,
    StateChanged,
    bench_auto_answerer,
)
from lims.models import Reading, Result, RunStatus
from lims.results_legacy import record_of
from tests.engine.conftest import MATERIALS, STANDARDS
from tests.engine.sample_procedure import SampleGasProcedure
from tests.engine.test_control import _Hook

BENCH = Path(__file__).resolve().parent / "sim_bench.toml"


def test_fault_on_simulated_bench_pauses_and_resume_completes(lab: Database) -> None:
    bench = load_bench(BENCH)
    with SimulatedBench(bench) as sim:
        instruments = open_instruments(bench, sim.addresses)
        try:
            rec = _Hook()
            rec.when(
                lambda e: (
                    isinstance(e, ReadingTaken)
                    and e.test_point == "P2"
                    and e.quantity == "indication"
                ),
                lambda e: sim.inject_fault("analyzer", "no_reply"),
            )
            paused = rec.when(
                lambda e: isinstance(e, StateChanged) and e.new == RunStatus.PAUSED,
                lambda e: None,
            )
            request = RunRequest(
                procedure=SampleGasProcedure(),
                instruments=instruments,
                operator="zhang",
                bench_name=bench.name,
                simulated=bench.simulated,
                time_scale=bench.time_scale,
                standards=STANDARDS,
                reference_materials=MATERIALS,
                auto_answer=bench_auto_answerer(bench.auto, sim),
            )
            handle = RunEngine(lab).start(request, subscribers=[rec])
            assert paused.wait(60)
            reason = next(e.reason for e in rec.of(StateChanged) if e.new == RunStatus.PAUSED)
            assert "instrument error in step P2" in reason
            assert "analyzer" in reason
            sim.clear_fault("analyzer")
            handle.resume()
            assert handle.wait(120) == RunStatus.COMPLETED, handle.final_reason
        finally:
            for inst in instruments.values():
                inst.close()
    taken = sorted(e.seq for e in rec.of(ReadingTaken))
    with lab.read() as s:
        stored = list(
            s.scalars(
                select(Reading.seq).where(Reading.run_id == handle.run_id).order_by(Reading.seq)
            )
        )
        results = {
            r.test_point: record_of(r)
            for r in s.scalars(select(Result).where(Result.run_id == handle.run_id))
        }
    assert stored == taken  # no reading lost
    actual = {"P1": 400.6, "P2": 1003.1}  # the bench file's true cylinder contents
    for point, rec in results.items():
        ind: Any = rec.indication
        assert rec.extra("n") == 3
        # an ideal analyzer (no gain, offset, drift) reads the true content, within noise
        assert abs(ind.to("umol/mol").magnitude - actual[point]) < 0.2
