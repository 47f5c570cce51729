"""Run efficiency of the gas-analyzer verification (JJG 635) on a simulated bench.

For the indication steps (zero gas, then standard gases near 20, 50, 80 %FS) the run's
time per point is compared with the physical minimum: the settling time of the analyzer
(a first-order lag with τ = T90 / ln 10 must bring the remaining deviation |Δ|·e^(−t/τ)
down to the noise σ, t_s = τ·ln(|Δ|/σ)) plus the averaging time the method prescribes
(repeats × averaging time). Target: total / minimum ≤ 1.15.

The run is planned and run as ``lims run`` does. ``--pace 0`` (default) runs on the
virtual clock as fast as the machine allows: durations are simulated seconds, the
method's own efficiency. ``--pace 1`` paces the bench in real time (one simulated second
per wall second, as a real bench): durations are then wall seconds, engine overhead
included, and the writer's grouping at real-time pacing shows in the audit events per
reading. ``--points zero`` stops after the first point: a short real-time case (about a
minute at ``--pace 1``) that prints readings against audit events and the wall time
against the simulated time.

Usage: ``uv run python benchmarks/run_efficiency.py [--pace 1] [--points zero]``
"""

from __future__ import annotations

import argparse
import math
import tempfile
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from drivers.bench import load_bench
from lims.db import Database
from lims.db.migrate import upgrade
from lims.engine import RunEngine, RunHandle, RunRequest, StepFinished, bench_auto_answerer
from lims.models import AuditEvent, InstrumentExchange, Reading, Run, WorkOrderItem
from lims.security import PasswordPolicy
from lims.services.demo import seed_demo
from lims.services.planning.bench import open_bench
from lims.services.planning.service import PlanRequest, plan_run

ROOT = Path(__file__).resolve().parents[1]
POINTS = ("zero", "P20", "P50", "P80")


def main() -> None:
    """Run the indication steps once and print the figures."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pace", type=float, default=0.0, help="simulated s per wall s (0: fast)")
    ap.add_argument("--bench", type=Path, default=ROOT / "examples/benches/gas-analyzer.toml")
    ap.add_argument("--points", choices=POINTS, default=POINTS[-1], help="last point run")
    args = ap.parse_args()
    points = POINTS[: POINTS.index(args.points) + 1]
    bench = load_bench(args.bench)
    sim_cfg = next(c for c in bench.instruments.values() if c.role == "gas_analyzer").sim
    tau = float(sim_cfg["t90"].to("s").magnitude) / math.log(10)
    sigma = float(sim_cfg["noise_sd"].to("umol/mol").magnitude)
    gain = float(sim_cfg["gain_error"].to("").magnitude)
    offset = float(sim_cfg["offset"].to("umol/mol").magnitude)
    nl = float(sim_cfg["nonlinearity"].to("").magnitude)
    full = float(sim_cfg["range"].to("umol/mol").magnitude)
    dil = next(c for c in bench.instruments.values() if c.role == "gas_dilutor")

    def target(c: float) -> float:
        return (1 + gain) * c + offset + 2 * nl * c * (1 - c / full)

    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite:///{Path(tmp) / 'bench.sqlite3'}")
        upgrade(db.engine)
        with db.write(actor="benchmark", reason="demo lab for the benchmark") as s:
            seed_demo(s, PasswordPolicy(), date.today())
        with db.read() as s:
            item_id = s.scalars(
                select(WorkOrderItem.id).where(WorkOrderItem.procedure_id == "jjg635")
            ).one()
        planned = plan_run(db, PlanRequest(item_id, args.bench, "zhang"))
        raw = planned.plan.parameter_texts
        table = planned.procedure.table
        averaging = (
            table.repeat_count("indication") * table.limit("averaging_time").to("s").magnitude
        )
        with open_bench(planned.bench, pacing=args.pace) as opened:
            handle: RunHandle | None = None

            def on_event(event: Any) -> None:
                if isinstance(event, StepFinished) and event.step == points[-1]:
                    assert handle is not None
                    handle.stop()  # the figures concern the indication steps

            handle = RunEngine(db).start(
                RunRequest.from_plan(
                    planned.plan,
                    planned.procedure,
                    opened.bind(planned),
                    clock=opened.clock,
                    auto_answer=bench_auto_answerer(planned.bench.auto, opened.simulator),
                    simulator=opened.simulator,
                ),
                subscribers=[on_event],
            )
            handle.wait()
        with db.read() as s:
            run = s.get(Run, handle.run_id)
            assert run is not None
            steps = run.provenance["steps"]
            readings = s.scalars(
                select(func.count(Reading.id)).where(Reading.run_id == run.id)
            ).one()
            appends, io_appends = (
                s.scalars(
                    select(func.count(AuditEvent.id)).where(
                        AuditEvent.table_name == table, AuditEvent.record_id == str(run.id)
                    )
                ).one()
                for table in ("readings", "instrument_io")
            )
            exchanges = s.scalars(
                select(func.count(InstrumentExchange.id)).where(InstrumentExchange.run_id == run.id)
            ).one()
        db.dispose()

    actual = {c.port: float(c.actual.to("umol/mol").magnitude) for c in dil.cylinders if c.actual}
    ports = {
        "zero": int(raw["zero_gas"].split("@")[1]),
        **{p: int(raw[f"gas_{p}"].split("@")[1].split(";")[0]) for p in POINTS[1:]},
    }
    previous = target(0.0)  # the analyzer starts on zero gas (no flow: ambient 0)
    total_run = total_min = wall = simulated = 0.0
    print(f"bench {bench.name}: T90 {sim_cfg['t90']:~P} (τ = {tau:.1f} s), noise σ = {sigma:g}")
    clock = "virtual clock" if args.pace == 0 else f"paced at {args.pace:g} simulated s per wall s"
    print(f"{clock}; averaging per point {averaging:g} s")
    print(
        f"{'point':<6}{'run s':>9}{'stable s':>9}{'settle s':>10}"
        f"{'avg s':>8}{'min s':>9}{'ratio':>8}"
    )
    for p in points:
        st = steps[p]
        wall += (
            datetime.fromisoformat(st["finished_at"]) - datetime.fromisoformat(st["started_at"])
        ).total_seconds()
        simulated += st["clock_end_s"] - st["clock_start_s"]
        if args.pace == 0:  # simulated seconds on the virtual clock
            dur = st["clock_end_s"] - st["clock_start_s"]
        else:  # wall seconds, scaled back to simulated ones
            dur = (
                datetime.fromisoformat(st["finished_at"]) - datetime.fromisoformat(st["started_at"])
            ).total_seconds() * args.pace
        now = target(actual.get(ports[p], 0.0))
        step = abs(now - previous)
        settle = tau * math.log(step / sigma) if step > sigma else 0.0
        minimum = settle + averaging
        previous = now
        total_run += dur
        total_min += minimum
        detected = sum(x["elapsed_s"] for x in st["stability"])
        print(
            f"{p:<6}{dur:9.1f}{detected:9.1f}{settle:10.1f}{averaging:8.1f}"
            f"{minimum:9.1f}{dur / minimum:8.3f}"
        )
    print(
        f"total run time / physical minimum = {total_run:.1f} s / {total_min:.1f} s "
        f"= {total_run / total_min:.3f} (target ≤ 1.15)"
    )
    print(f"readings {readings}, audit events for them {appends} ({appends / readings:.3f} each)")
    print(
        f"instrument exchanges {exchanges}, audit events for them {io_appends} "
        f"({io_appends / max(exchanges, 1):.3f} each)"
    )
    if args.pace > 0:
        print(
            f"wall time / simulated time of the steps = {wall:.1f} s / {simulated:.1f} s "
            f"= {wall / simulated:.3f} (1/pace = {1 / args.pace:.3f})"
        )


if __name__ == "__main__":
    main()
