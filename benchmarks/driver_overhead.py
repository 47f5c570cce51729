"""Time per query through our driver vs a bare pyvisa query to the same simulator.

Run: ``uv run python benchmarks/driver_overhead.py [N]``. Prints both times and the ratio
(target ≤ 1.10). Both paths talk to the same simulated SCPI gas analyzer over loopback
TCP in the same run; rounds alternate to spread drift evenly.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import pyvisa

from drivers.bench import load_bench, open_instruments
from drivers.sim import SimulatedBench

ROOT = Path(__file__).resolve().parents[1]


def main(n: int = 2000, rounds: int = 5) -> None:
    bench = load_bench(ROOT / "examples" / "benches" / "gas-analyzer.toml")
    with SimulatedBench(bench) as sim:
        address = sim.addresses["analyzer"]
        ours = open_instruments(bench, sim.addresses)["analyzer"]
        rm = pyvisa.ResourceManager("@py")
        bare = rm.open_resource(
            address, read_termination="\n", write_termination="\n", timeout=2000
        )
        read = ours.read_concentration  # type: ignore[attr-defined]
        for _ in range(200):  # warm up both paths
            read()
            float(bare.query("MEAS:CONC?"))
        t_ours: list[float] = []
        t_bare: list[float] = []
        for _ in range(rounds):
            start = time.perf_counter()
            for _ in range(n):
                float(bare.query("MEAS:CONC?"))
            t_bare.append((time.perf_counter() - start) / n)
            start = time.perf_counter()
            for _ in range(n):
                read()
            t_ours.append((time.perf_counter() - start) / n)
        bare.close()
        rm.close()
        ours.close()
    ours_t, bare_t = statistics.median(t_ours), statistics.median(t_bare)
    print(f"bare pyvisa query : {bare_t * 1e6:8.1f} µs/query (median of {rounds} × {n})")
    print(f"our driver        : {ours_t * 1e6:8.1f} µs/query (median of {rounds} × {n})")
    print(f"ratio             : {ours_t / bare_t:8.3f} (target ≤ 1.10)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
