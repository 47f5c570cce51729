"""Connecting a planned run's bench: the drivers, the simulator and the run's clock.

:func:`open_bench` connects every instrument of a bench file. A simulated bench is served
on loopback — in this process, or in a child process when ``serve`` says so (the desktop
app keeps the simulator's physics off its interpreter) — and drives a virtual clock the
engine advances, so its readings do not depend on the machine's load. The command line,
the desktop app and the demo all connect benches through here.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Any

from drivers.bench import BenchConfig, open_instruments
from drivers.errors import InstrumentError
from lims.engine.clock import RunClock, ScaledClock, VirtualRunClock
from lims.services.planning.context import PlanError
from lims.services.planning.service import PlannedRun

__all__ = ["BenchServer", "OpenBench", "open_bench"]

#: Starts a simulated bench elsewhere (a child process) from (bench, virtual clock?, the
#: clock's start date and time); yields an object with ``addresses``, ``peek``/``act``,
#: ``snapshot``/``restore`` and, when it serves a virtual clock, ``clock``.
BenchServer = Callable[[BenchConfig, bool, datetime | None], AbstractContextManager[Any]]


@dataclass
class OpenBench:
    """A connected bench: drivers by bench name, its simulator (or None) and its clock."""

    bench: BenchConfig
    instruments: dict[str, Any]
    simulator: Any | None
    clock: RunClock

    def bind(self, planned: PlannedRun) -> dict[str, Any]:
        """The drivers for the plan's role slots."""
        out: dict[str, Any] = {}
        for inst in planned.plan.instruments:
            if not inst.slot:
                continue
            driver = self.instruments.get(inst.bench_instrument)
            if driver is None:
                raise PlanError(
                    f"{Path(self.bench.path).name}: instrument {inst.bench_instrument!r} for "
                    f"role {inst.slot!r} has no driver"
                )
            out[inst.slot] = driver
        return out


@contextmanager
def _in_process(
    bench: BenchConfig, virtual: bool, clock_start: datetime | None = None
) -> Iterator[Any]:
    from drivers.sim import SimulatedBench, VirtualClock

    clock = VirtualClock(start=clock_start) if virtual else None
    sim = SimulatedBench(bench, clock=clock)
    sim.start()
    try:
        yield sim
    finally:
        sim.stop()


@contextmanager
def open_bench(
    bench: BenchConfig,
    *,
    serve: BenchServer | None = None,
    virtual: bool = True,
    pacing: float = 0.0,
    clock_start: datetime | None = None,
) -> Iterator[OpenBench]:
    """Connect the bench's instruments (serving a simulated bench first).

    ``virtual``: a simulated bench runs on a virtual clock the engine advances (``pacing``
    simulated seconds per wall second for a run to be watched; 0 as fast as possible);
    False keeps the bench file's time scale on the wall clock. A real bench always runs in
    real time. ``clock_start``: the simulated date and time at clock zero (a resumed run's,
    so that its readings' times continue the run's). An instrument that cannot be connected
    raises :class:`PlanError`.
    """
    if clock_start is None:
        # a simulated run's time starts at midnight (UTC) of its day: the same bench, seed
        # and day give the same readings, their times included
        clock_start = datetime.combine(datetime.now(UTC).date(), time(), UTC)
    with contextlib.ExitStack() as stack:
        sim: Any = None
        clock: RunClock = ScaledClock(1.0)
        if bench.simulated:
            server = serve or _in_process
            sim = stack.enter_context(server(bench, virtual, clock_start))
            sim_clock = getattr(sim, "clock", None)
            if virtual and sim_clock is not None and hasattr(sim_clock, "advance"):
                clock = VirtualRunClock(sim_clock, pacing)
            else:
                clock = ScaledClock(bench.time_scale)
        try:
            opened = dict(open_instruments(bench, sim.addresses if sim is not None else None))
        except InstrumentError as exc:
            raise PlanError(f"{Path(bench.path).name}: {exc}") from None
        try:
            yield OpenBench(bench, opened, sim, clock)
        finally:
            for inst in opened.values():
                with contextlib.suppress(Exception):  # best effort: the run has ended
                    inst.close()
