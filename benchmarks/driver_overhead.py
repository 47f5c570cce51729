"""Time per query through our driver vs a bare pyvisa query to the same simulator (issue #3).

Run: ``uv run python benchmarks/driver_overhead.py [--rounds R] [--slices S] [--size K]
[--warmup W] [--observer]`` (R rounds of S slices of K queries per path; ``--observer``
attaches an instrument I/O observer to our driver, as a run that records its I/O does).

Both paths talk to the same simulated SCPI gas analyzer (the example gas-analyzer bench,
served on loopback by ``python -m drivers.sim`` in a process of its own, as a bench's
instruments are, so that the server does not compete with the client for the GIL;
``--in-process`` serves it from a thread of this process instead) in the same run, each
over a connection of its own:

* bare: ``float(resource.query("MEAS:CONC?"))`` on a pyvisa-py resource;
* ours: ``ScpiGasAnalyzer.read_concentration()``: VisaTransport (lock held for the
  query, timeout and error mapping), SCPI number checks and a pint Quantity in µmol/mol.

After a warm-up of both paths, each round runs both paths in alternating slices of K
queries (bare then ours, ours then bare, ...), so that drift and bursts of load from
other processes fall on both alike. Two figures per round and path:

* mean: all the time spent over the round / queries (includes every stall);
* typical: the median slice time / K (a slice hit by a burst of outside load does not
  count; on a shared machine this is the steadier figure).

Prints each round, the medians over the rounds and the median of the per-round ratios
for both figures, and the CPU time the calling thread spends per query on each path
(what the driver itself costs, free of the round trip); the target (ratio ≤ 1.10) is
checked on the mean.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import statistics
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyvisa

from drivers.bench import load_bench, open_instruments
from drivers.io_record import IoExchange
from drivers.sim import SimulatedBench
from drivers.units import ureg

ROOT = Path(__file__).resolve().parents[1]
COMMAND = "MEAS:CONC?"
TARGET = 1.10


@dataclass
class Round:
    """µs/query of one round for the bare and our path."""

    bare_mean: float
    ours_mean: float
    bare_typical: float
    ours_typical: float
    bare_cpu: float
    ours_cpu: float

    @property
    def ratio_mean(self) -> float:
        """ours / bare, mean times."""
        return self.ours_mean / self.bare_mean

    @property
    def ratio_typical(self) -> float:
        """ours / bare, typical (median-slice) times."""
        return self.ours_typical / self.bare_typical


def timed_round(bare: Callable[[], Any], ours: Callable[[], Any], slices: int, size: int) -> Round:
    """One round: ``slices`` slices of ``size`` queries per path, order alternating."""
    clock, cpu_clock = time.perf_counter, time.thread_time
    times: tuple[list[float], list[float]] = ([], [])  # bare, ours: seconds per slice
    cpu = [0.0, 0.0]  # CPU seconds of this (the calling) thread, bare and ours
    paths = ((0, times[0], bare), (1, times[1], ours))
    for i in range(slices):
        for k, record, fn in paths if i % 2 == 0 else paths[::-1]:
            start, start_cpu = clock(), cpu_clock()
            for _ in range(size):
                fn()
            record.append(clock() - start)
            cpu[k] += cpu_clock() - start_cpu
    per_query = 1e6 / size
    return Round(
        bare_mean=statistics.fmean(times[0]) * per_query,
        ours_mean=statistics.fmean(times[1]) * per_query,
        bare_typical=statistics.median(times[0]) * per_query,
        ours_typical=statistics.median(times[1]) * per_query,
        bare_cpu=cpu[0] / slices * per_query,
        ours_cpu=cpu[1] / slices * per_query,
    )


BENCH = ROOT / "examples" / "benches" / "gas-analyzer.toml"


@contextlib.contextmanager
def served(in_process: bool) -> Iterator[dict[str, str]]:
    """The example bench served on loopback; yields each instrument's address."""
    if in_process:
        with SimulatedBench(load_bench(BENCH)) as sim:
            yield dict(sim.addresses)
        return
    proc = subprocess.Popen(
        [sys.executable, "-m", "drivers.sim", str(BENCH)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        addresses: dict[str, str] = {}
        for line in proc.stdout:
            if line.startswith("ready"):
                break
            fields = line.rstrip("\n").split("\t")
            if len(fields) == 4:
                addresses[fields[0]] = fields[3]
        else:
            raise SystemExit(f"the simulator stopped before it was ready (exit {proc.wait()})")
        yield addresses
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def measure(
    rounds: int,
    slices: int,
    size: int,
    warmup: int,
    in_process: bool = False,
    observer: bool = False,
) -> list[Round]:
    """Start the simulated bench, open both paths, warm up and time ``rounds`` rounds."""
    bench = load_bench(BENCH)
    record: deque[IoExchange] = deque(maxlen=1000)  # what a run's recorder would queue
    with served(in_process) as addresses:
        analyzer: Any = open_instruments(
            bench, addresses, io_observer=record.append if observer else None
        )["analyzer"]
        rm = pyvisa.ResourceManager("@py")
        resource: Any = rm.open_resource(
            addresses["analyzer"], read_termination="\n", write_termination="\n", timeout=2000
        )
        try:

            def bare() -> float:
                return float(resource.query(COMMAND))

            ours: Callable[[], Any] = analyzer.read_concentration
            reading = ours()
            if not isinstance(reading, ureg.Quantity) or str(reading.units) != "micromole / mole":
                raise SystemExit(f"unexpected reading from our driver: {reading!r}")
            for _ in range(warmup):
                bare()
                ours()
            return [timed_round(bare, ours, slices, size) for _ in range(rounds)]
        finally:
            resource.close()
            rm.close()
            analyzer.close()


def main() -> None:
    """Measure and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15, help="rounds (default 15)")
    parser.add_argument("--slices", type=int, default=100, help="slices per round (default 100)")
    parser.add_argument("--size", type=int, default=10, help="queries per slice (default 10)")
    parser.add_argument("--warmup", type=int, default=1000, help="warm-up queries per path")
    parser.add_argument(
        "--observer",
        action="store_true",
        help="attach an I/O observer to our driver (every exchange queued)",
    )
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="serve the simulator from a thread of this process",
    )
    args = parser.parse_args()
    if min(args.rounds, args.slices, args.size) < 1 or args.warmup < 0:
        parser.error("--rounds, --slices and --size must be ≥ 1, --warmup ≥ 0")
    load_before = os.getloadavg()[0]
    rounds = measure(
        args.rounds, args.slices, args.size, args.warmup, args.in_process, args.observer
    )
    where = "a thread of this process" if args.in_process else "a process of its own"
    print(f"simulator served from {where}")
    print(f"I/O observer on our driver: {'yes' if args.observer else 'no'}")

    print("µs/query    mean: bare    ours   ratio | typical: bare    ours   ratio")
    for i, r in enumerate(rounds, 1):
        print(
            f"round {i:>3}       {r.bare_mean:7.1f} {r.ours_mean:7.1f} {r.ratio_mean:7.3f} |"
            f"          {r.bare_typical:7.1f} {r.ours_typical:7.1f} {r.ratio_typical:7.3f}"
        )
    each = f"median of {args.rounds} rounds × {args.slices * args.size} queries per path"
    for label, bare_t, ours_t, ratio in (
        ("mean", [r.bare_mean for r in rounds], [r.ours_mean for r in rounds], "ratio_mean"),
        (
            "typical",
            [r.bare_typical for r in rounds],
            [r.ours_typical for r in rounds],
            "ratio_typical",
        ),
    ):
        ratios = [getattr(r, ratio) for r in rounds]
        print(
            f"{label:<8} bare pyvisa query {statistics.median(bare_t):7.1f} µs, "
            f"our driver {statistics.median(ours_t):7.1f} µs, "
            f"ratio {statistics.median(ratios):.3f} "
            f"(per-round ratios {min(ratios):.3f}..{max(ratios):.3f}; {each})"
        )
    bare_cpu = statistics.median(r.bare_cpu for r in rounds)
    ours_cpu = statistics.median(r.ours_cpu for r in rounds)
    print(
        f"client CPU per query (the calling thread): bare {bare_cpu:.1f} µs, "
        f"ours {ours_cpu:.1f} µs, our driver's own work {ours_cpu - bare_cpu:+.1f} µs"
    )
    verdict = statistics.median(r.ratio_mean for r in rounds)
    print(f"target ratio ≤ {TARGET:.2f} on the mean: {'met' if verdict <= TARGET else 'NOT met'}")
    print(f"load average (1 min) before/after: {load_before:.2f} / {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
