"""Reproducible simulated benches: with a virtual clock the same calls give the same replies.

An engine-like harness drives each example bench as a run does: every instrument call
advances the virtual clock by a fixed step, every wait by its duration, and each step
begins by setting the inputs it needs. Compared are the parsed values and every byte of
the I/O record. (a) two benches, same calls → identical replies (also with the machine
loaded); (b) a fresh bench started at the simulated time where step k began replies to
steps k…n exactly as the original; with a snapshot of the original at that boundary it
does so even for steps that depend on what came before; (c) scheduled faults fire at the
same simulated times on a fresh bench.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from drivers.bench import BenchConfig, FaultSchedule, load_bench, open_instruments
from drivers.errors import InstrumentError
from drivers.io_record import IoExchange
from drivers.sim import SimulatedBench
from drivers.sim.clock import VirtualClock
from drivers.units import ureg

Q = ureg.Quantity
EXAMPLES = Path(__file__).parents[2] / "examples" / "benches"
#: The example benches whose call sequences this module writes out (the fuel and emission
#: benches have their own reproducibility tests beside their drivers).
BENCHES = [
    "ac-pile.toml",
    "ch4-analyzer.toml",
    "dc-charger.toml",
    "elemental-analyzer.toml",
    "gas-analyzer.toml",
    "gas-flowmeter.toml",
]
CALL_STEP_S = 0.5  # what the engine adds to simulated time on every instrument call
START = dt.datetime(2026, 3, 2, 8, 0, tzinfo=dt.UTC)


class Run:
    """Drives a simulated bench like the run engine does, recording every reply."""

    def __init__(self, bench: BenchConfig, sim: SimulatedBench, clock: VirtualClock) -> None:
        self.bench, self.sim, self.clock = bench, sim, clock
        self.replies: list[Any] = []
        self.drivers = open_instruments(bench, sim.addresses, io_observer=self._io)
        self.replies.clear()  # identify() at opening is not part of any step

    def _io(self, ex: IoExchange) -> None:
        self.replies.append(("io", ex.instrument, ex.operation, ex.sent, ex.received, ex.error))

    def call(self, name: str, method: str, *args: Any) -> Any:
        self.clock.advance(CALL_STEP_S)
        try:
            value = getattr(self.drivers[name], method)(*args)
        except InstrumentError as exc:
            self.replies.append(("error", name, method, type(exc).__name__, str(exc)))
            return None
        self.replies.append(("value", name, method, repr(value)))
        return value

    def wait(self, seconds: float) -> None:
        self.clock.advance(seconds)

    def act(self, name: str, action: str, **kwargs: str) -> None:
        self.clock.advance(CALL_STEP_S)
        self.replies.append(("act", name, action, repr(self.sim.act(name, action, **kwargs))))

    def peek(self, name: str, observable: str) -> None:
        self.replies.append(("peek", name, observable, repr(self.sim.peek(name, observable))))

    def close(self) -> None:
        for d in self.drivers.values():
            d.close()


Step = Callable[[Run], None]


def of_role(bench: BenchConfig, role: str) -> list[str]:
    return [n for n, c in bench.instruments.items() if c.role == role and c.driver != "manual"]


def gas_steps(bench: BenchConfig) -> list[Step]:
    """A step per cylinder (settle, repeats), a response step, a drift step."""
    (analyzer,) = of_role(bench, "gas_analyzer")
    (dilutor,) = of_role(bench, "gas_dilutor")
    t90 = bench.instruments[analyzer].sim["t90"].to("s").magnitude
    settle = 10 * t90  # the simulated lag is settled exactly after 20 τ = 8.7 t90
    cylinders = bench.instruments[dilutor].cylinders
    zero = next(c.port for c in cylinders if c.zero)
    span = max((c for c in cylinders if not c.zero), key=lambda c: c.certified).port

    def point(port: int) -> Step:
        def step(run: Run) -> None:
            run.call(dilutor, "select_port", port)
            run.call(dilutor, "set_flow", Q(1.0, "L/min"))
            run.wait(settle)
            for _ in range(5):
                run.call(analyzer, "read_concentration")
                run.wait(10)
            run.call(dilutor, "read_flow")

        return step

    def response(run: Run) -> None:  # flushes with zero gas itself, then samples the step
        run.call(dilutor, "set_flow", Q(1.0, "L/min"))
        run.call(dilutor, "select_port", zero)
        run.wait(settle)
        run.call(analyzer, "read_concentration")
        run.call(dilutor, "select_port", span)
        for _ in range(25):
            run.wait(3)
            run.call(analyzer, "read_concentration")

    def drift(run: Run) -> None:
        run.call(dilutor, "select_port", zero)
        run.call(dilutor, "set_flow", Q(1.0, "L/min"))
        run.wait(3600)
        for _ in range(3):
            run.call(analyzer, "read_concentration")

    return [point(c.port) for c in cylinders] + [response, drift]


def flow_steps(bench: BenchConfig) -> list[Step]:
    """A totalization per flow point."""
    (mfc,) = of_role(bench, "flow_controller")
    (std,) = of_role(bench, "reference_flow_standard")

    def point(flow: float) -> Step:
        def step(run: Run) -> None:
            run.call(mfc, "set_flow", Q(flow, "m**3/h"))
            run.wait(30)
            run.call(std, "reset_totalizer")
            run.call(std, "start_totalizing")
            run.wait(120)
            run.call(std, "stop_totalizing")
            for method in ("read_volume", "read_pulses", "read_flow"):
                run.call(std, method)
            run.call(mfc, "read_flow")

        return step

    return [point(q) for q in (2.5, 6.25, 10.0, 25.0)]


def pile_steps(bench: BenchConfig) -> list[Step]:
    """Setup, then an energy test per current of the error curve."""
    (tester,) = of_role(bench, "pile_tester")
    (load,) = of_role(bench, "programmable_load")
    (pile,) = of_role(bench, "charging_pile")
    physics = bench.instruments[pile].sim

    def setup(run: Run) -> None:
        run.call(load, "set_output", False)
        run.call(tester, "set_meter_constant", physics["meter_constant"])

    def energy(current: Any) -> Step:
        def step(run: Run) -> None:
            run.call(load, "set_output", False)
            run.call(tester, "start_energy_test")
            run.call(load, "set_current", current)
            run.call(load, "set_output", True)
            run.wait(900)
            run.call(load, "set_output", False)
            run.call(tester, "stop_energy_test")
            for method in ("read_standard_energy", "read_pulses", "read_energy_error"):
                run.call(tester, method)
            run.call(tester, "read_voltage")
            run.call(load, "read_current")

        return step

    return [setup] + [energy(i) for i, _ in physics["errors"]]


def elemental_steps(bench: BenchConfig) -> list[Step]:
    """A sample of each reference substance, loaded and its result read."""
    (ea,) = of_role(bench, "elemental_analyzer")
    run_time = bench.instruments[ea].sim["run_time"].to("s").magnitude

    def sample(substance: str, n: int) -> Step:
        def step(run: Run) -> None:
            run.act(ea, "analyze", sample_id=f"{substance}-{n}", substance=substance, mass="2 mg")
            run.wait(run_time + 1)
            run.call(ea, "read_result", 5.0)

        return step

    return [sample(s, n) for n, s in enumerate(["acetanilide", "sulfanilamide", "acetanilide"])]


def steps_for(bench: BenchConfig) -> list[Step]:
    roles = {c.role for c in bench.instruments.values()}
    if "gas_analyzer" in roles:
        body = gas_steps(bench)
    elif "reference_flow_standard" in roles:
        body = flow_steps(bench)
    elif "pile_tester" in roles:
        body = pile_steps(bench)
    else:
        body = elemental_steps(bench)
    envs = of_role(bench, "environment_monitor")

    def with_environment(step: Step) -> Step:
        def both(run: Run) -> None:
            step(run)
            for env in envs:
                for method in ("read_temperature", "read_humidity", "read_pressure"):
                    run.call(env, method)

        return both

    return [with_environment(s) for s in body]


@contextmanager
def started(bench: BenchConfig, at: float = 0.0) -> Iterator[Run]:
    """A fresh simulator of ``bench`` on a virtual clock starting at ``at`` simulated s."""
    clock = VirtualClock(now=at, start=START)
    with SimulatedBench(bench, clock=clock) as sim:
        run = Run(bench, sim, clock)
        try:
            yield run
        finally:
            run.close()


def run_steps(
    run: Run, steps: list[Step], first: int = 0, snapshots: list[Any] | None = None
) -> list[tuple[float, list[Any]]]:
    """Run ``steps[first:]``: (simulated start time, replies) of each."""
    out = []
    for step in steps[first:]:
        if snapshots is not None:
            snapshots.append(run.sim.snapshot())
        t0 = run.clock.now()
        run.replies = []
        step(run)
        out.append((t0, run.replies))
    return out


@contextmanager
def cpu_load() -> Iterator[None]:
    """Two busy processes competing for the machine's cores."""
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    try:
        yield
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()


@pytest.mark.parametrize("file", BENCHES)
def test_same_calls_same_replies(file: str) -> None:
    bench = load_bench(EXAMPLES / file)
    steps = steps_for(bench)
    with started(bench) as run:
        first = run_steps(run, steps)
    with cpu_load(), started(bench) as run:
        second = run_steps(run, steps)
    assert second == first
    assert all(any(r[0] == "value" for r in replies) for _, replies in first)
    # the replies carry noise drawn from the seed: another seed gives other replies
    with started(replace(bench, seed=bench.seed + 1)) as run:
        other = run_steps(run, steps)
    assert other != first


@pytest.mark.parametrize("file", BENCHES)
def test_fresh_bench_at_step_start_replies_like_the_original(file: str) -> None:
    bench = load_bench(EXAMPLES / file)
    steps = steps_for(bench)
    with started(bench) as run:
        original = run_steps(run, steps)
    n = len(steps)
    for k in sorted({1, n // 2, n - 1}):
        t_k = original[k][0]
        with started(bench, at=t_k) as resumed:
            again = run_steps(resumed, steps, first=k)
        assert again == original[k:], f"steps {k}..{n - 1} after a fresh start at {t_k} s"


def untidy_gas_steps(bench: BenchConfig) -> list[Step]:
    """Steps that read while the analyzer still remembers the previous step's gas."""
    (analyzer,) = of_role(bench, "gas_analyzer")
    (dilutor,) = of_role(bench, "gas_dilutor")
    ports = [c.port for c in bench.instruments[dilutor].cylinders]

    def point(port: int) -> Step:
        def step(run: Run) -> None:
            run.call(dilutor, "select_port", port)
            run.call(dilutor, "set_flow", Q(1.0, "L/min"))
            for _ in range(8):
                run.wait(5)
                run.call(analyzer, "read_concentration")
            run.peek(analyzer, "indication")

        return step

    return [point(p) for p in ports + ports[::-1]]


def untidy_pile_steps(bench: BenchConfig) -> list[Step]:
    """Display readings before and after each charge: the pile's register since start."""
    (load,) = of_role(bench, "programmable_load")
    (pile,) = of_role(bench, "charging_pile")
    currents = [i for i, _ in bench.instruments[pile].sim["errors"]]

    def charge(current: Any) -> Step:
        def step(run: Run) -> None:
            run.peek(pile, "display_energy")
            run.peek(pile, "payment")
            run.call(load, "set_current", current)
            run.call(load, "set_output", True)
            run.wait(1234.5)
            run.call(load, "set_output", False)
            run.peek(pile, "display_energy")
            run.peek(pile, "payment")
            run.peek(pile, "clock")

        return step

    return [charge(i) for i in currents * 2]


@pytest.mark.parametrize(
    ("file", "make_steps"),
    [("gas-analyzer.toml", untidy_gas_steps), ("ac-pile.toml", untidy_pile_steps)],
)
def test_snapshot_carries_what_the_instruments_remember(
    file: str, make_steps: Callable[[BenchConfig], list[Step]]
) -> None:
    bench = load_bench(EXAMPLES / file)
    steps = make_steps(bench)
    snapshots: list[Any] = []
    with started(bench) as run:
        original = run_steps(run, steps, snapshots=snapshots)
    k = len(steps) // 2
    t_k = original[k][0]
    assert snapshots[k]["time"] == t_k
    with started(bench, at=t_k) as resumed:
        resumed.sim.restore(json.loads(json.dumps(snapshots[k])))  # as stored with the run
        again = run_steps(resumed, steps, first=k)
    assert again == original[k:]
    # without the snapshot these steps answer otherwise: the memory is real
    with started(bench, at=t_k) as forgetful:
        assert run_steps(forgetful, steps, first=k) != original[k:]


def test_snapshot_refused_when_it_does_not_fit() -> None:
    gas, pile = load_bench(EXAMPLES / "gas-analyzer.toml"), load_bench(EXAMPLES / "ac-pile.toml")
    with started(gas) as run:
        run.wait(100)
        snap = run.sim.snapshot()
    with started(pile) as other, pytest.raises(ValueError, match="snapshot of bench"):
        other.sim.restore(snap)
    with started(gas, at=50) as early, pytest.raises(ValueError, match="before the snapshot"):
        early.sim.restore(snap)


def faulty(bench: BenchConfig, schedule: dict[str, tuple[FaultSchedule, ...]]) -> BenchConfig:
    instruments = dict(bench.instruments)
    for name, faults in schedule.items():
        instruments[name] = replace(instruments[name], faults=faults)
    return replace(bench, instruments=instruments)


def test_scheduled_faults_fire_at_the_same_simulated_time() -> None:
    base = load_bench(EXAMPLES / "gas-analyzer.toml")
    bench = faulty(
        base,
        {
            "analyzer": (FaultSchedule("out_of_range", at_s=200.0, duration_s=60.0),),
            "dilutor": (FaultSchedule("garbage", at_s=300.0, duration_s=20.0),),
            "environment": (FaultSchedule("out_of_range", at_s=250.0, duration_s=100.0),),
        },
    )

    def ticks(run: Run) -> None:  # a reading of each instrument every 10 s up to 400 s
        while run.clock.now() < 400:
            run.wait(10 - 3 * CALL_STEP_S)
            run.call("analyzer", "read_concentration")
            run.call("dilutor", "read_flow")
            run.call("environment", "read_pressure")

    def failing(replies: list[Any], name: str) -> list[bool]:
        return [r[0] == "error" for r in replies if r[0] in ("value", "error") and r[1] == name]

    with started(bench) as run:
        ticks(run)
        original = run.replies
    # expected from the schedule alone: call i of an instrument happens at 10·(i+1) − δ
    times = {
        "analyzer": [10.0 * (i + 1) - 1.0 for i in range(40)],
        "dilutor": [10.0 * (i + 1) - 0.5 for i in range(40)],
        "environment": [10.0 * (i + 1) for i in range(40)],
    }
    windows = {"analyzer": (200, 260), "dilutor": (300, 320), "environment": (250, 350)}
    for name, (a, b) in windows.items():
        assert failing(original, name) == [a <= t < b for t in times[name]], name
    for t_start in (150.0, 230.0):  # before the first fault, and inside one
        with started(bench, at=t_start) as fresh:
            ticks(fresh)
            again = fresh.replies
        for name, (a, b) in windows.items():
            later = [t for t in times[name] if t > t_start]
            assert failing(again, name) == [a <= t < b for t in later], (name, t_start)
        tail = [r for r in original if r[0] != "io"][-len([r for r in again if r[0] != "io"]) :]
        assert [r for r in again if r[0] != "io"] == tail
