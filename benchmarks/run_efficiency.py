"""Run efficiency of the gas-analyzer verification (JJG 635) on a simulated bench.

For the indication steps (zero gas, then standard gases near 20, 50, 80 %FS) the run's
time per point is compared with the physical minimum: the settling time of the analyzer
(a first-order lag with τ = T90 / ln 10 must bring the remaining deviation |Δ|·e^(−t/τ)
down to the noise σ, t_s = τ·ln(|Δ|/σ)) plus the averaging time the method prescribes
(repeats × averaging time). Target: total / minimum ≤ 1.15.

Usage: ``uv run python benchmarks/run_efficiency.py [--time-scale 20]``. The time scale
trades wall time for the share of instrument I/O in simulated time (each read costs its
wall latency × time_scale simulated seconds), so keep it low.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import tempfile
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from drivers.bench import load_bench, open_instruments
from drivers.sim import SimulatedBench
from lims.cli.run_cmd import bench_parameters, default_standards
from lims.db import Database
from lims.db.migrate import upgrade
from lims.engine import RunEngine, RunRequest, StepFinished, bench_auto_answerer
from lims.models import Run, WorkOrderItem
from lims.security import PasswordPolicy
from lims.services.demo import seed_demo
from lims.units import ureg
from procedures.jjg635 import Jjg635

ROOT = Path(__file__).resolve().parents[1]
POINTS = ("zero", "P20", "P50", "P80")


def main() -> None:
    """Run the indication steps once and print the figures."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--time-scale", type=float, default=20.0)
    ap.add_argument("--bench", type=Path, default=ROOT / "examples/benches/gas-analyzer.toml")
    args = ap.parse_args()
    bench = dataclasses.replace(load_bench(args.bench), time_scale=args.time_scale)
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
        with db.write(actor="benchmark") as s:
            seed_demo(s, PasswordPolicy(), date.today())
        with db.read() as s:
            item = s.scalars(
                select(WorkOrderItem).where(WorkOrderItem.procedure_id == "jjg635")
            ).first()
            assert item is not None
            span = ureg.Quantity(item.equipment.range_max, item.equipment.range_unit)
            s.expunge(item)
        raw = bench_parameters(db, Jjg635, Jjg635().table, bench, item, span)
        proc = Jjg635(parameters=raw)
        table = proc.table
        averaging = (
            table.repeat_count("indication") * table.limit("averaging_time").to("s").magnitude
        )
        with SimulatedBench(bench) as sim:
            opened = open_instruments(bench, sim.addresses)
            by_role = {bench.instruments[n].role: d for n, d in opened.items()}
            engine = RunEngine(db)
            handle = None

            def on_event(event: Any) -> None:
                if isinstance(event, StepFinished) and event.step == POINTS[-1]:
                    assert handle is not None
                    handle.stop()  # the figures concern the indication steps

            handle = engine.start(
                RunRequest(
                    procedure=proc,
                    instruments={slot: by_role[r] for slot, r in proc.roles.items()},
                    operator="zhang",
                    bench_name=bench.name,
                    simulated=True,
                    time_scale=args.time_scale,
                    parameters=raw,
                    standards=default_standards(db, bench),
                    reference_materials=[v.split("@")[0] for k, v in raw.items() if "gas" in k],
                    auto_answer=bench_auto_answerer(bench.auto, sim),
                ),
                subscribers=[on_event],
            )
            handle.wait()
            for d in opened.values():
                d.close()
        with db.read() as s:
            run = s.get(Run, handle.run_id)
            assert run is not None
            steps = run.provenance["steps"]
        db.dispose()

    actual = {c.port: float(c.actual.to("umol/mol").magnitude) for c in dil.cylinders if c.actual}
    ports = {
        "zero": int(raw["zero_gas"].split("@")[1]),
        **{p: int(raw[f"gas_{p}"].split("@")[1].split(";")[0]) for p in POINTS[1:]},
    }
    previous = target(0.0)  # the analyzer starts on zero gas (no flow: ambient 0)
    total_run = total_min = 0.0
    print(f"bench {bench.name}: T90 {sim_cfg['t90']:~P} (τ = {tau:.1f} s), noise σ = {sigma:g}")
    print(f"time scale {args.time_scale:g}; averaging per point {averaging:g} s")
    print(
        f"{'point':<6}{'run s':>9}{'stable s':>9}{'settle s':>10}"
        f"{'avg s':>8}{'min s':>9}{'ratio':>8}"
    )
    for p in POINTS:
        st = steps[p]
        dur = (
            datetime.fromisoformat(st["finished_at"]) - datetime.fromisoformat(st["started_at"])
        ).total_seconds() * args.time_scale
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


if __name__ == "__main__":
    main()
