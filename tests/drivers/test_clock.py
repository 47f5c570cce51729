"""The simulator's clock: scaled wall time, and a virtual clock shared between processes."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from drivers.bench import load_bench
from drivers.sim import SimControlClient, SimulatedBench
from drivers.sim.clock import ClockFileError, VirtualClock, WallClock
from lims.engine.sim_process import SimProcess

ROOT = Path(__file__).parents[2]
GAS = ROOT / "examples" / "benches" / "gas-analyzer.toml"


def python(code: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def test_virtual_clock_moves_only_when_told() -> None:
    start = dt.datetime(2026, 3, 1, 8, 0, 0, 700_000, tzinfo=dt.UTC)
    clock = VirtualClock(start=start)
    assert clock.now() == 0.0
    time.sleep(0.05)
    assert clock.now() == 0.0  # wall time does not move it
    assert clock.advance(1.25) == 1.25
    clock.advance(0)
    assert clock.now() == 1.25
    clock.set(3600.0)
    assert clock.now() == 3600.0
    # the start counts whole seconds, so that displays truncated to the second agree
    assert clock.datetime() == dt.datetime(2026, 3, 1, 9, 0, 0, tzinfo=dt.UTC)
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="finite non-negative"):
            clock.advance(bad)
        with pytest.raises(ValueError, match="finite and non-negative"):
            clock.set(bad)
    assert clock.now() == 3600.0


def test_wall_clock_is_scaled_real_time() -> None:
    clock = WallClock(600.0)
    t0, w0 = clock.now(), time.monotonic()
    time.sleep(0.1)
    elapsed = time.monotonic() - w0
    assert clock.now() - t0 == pytest.approx(600.0 * elapsed, rel=0.2)
    with pytest.raises(ValueError, match="positive number"):
        WallClock(0.0)


def test_clock_file_shared_between_processes(tmp_path: Path) -> None:
    path = tmp_path / "clock"
    clock = VirtualClock.create(path, now=10.0)
    child = python(
        """
        import sys
        from drivers.sim.clock import VirtualClock
        c = VirtualClock.attach(sys.argv[1])
        for line in sys.stdin:
            if line.strip() == "advance":
                c.advance(2.5)
            print(repr(c.now()), flush=True)
        """,
        str(path),
    )
    assert child.stdin is not None
    assert child.stdout is not None
    try:
        child.stdin.write("read\n")
        child.stdin.flush()
        assert float(child.stdout.readline()) == 10.0
        clock.advance(90.0)
        child.stdin.write("read\n")
        child.stdin.flush()
        assert float(child.stdout.readline()) == 100.0
        child.stdin.write("advance\n")
        child.stdin.flush()
        assert float(child.stdout.readline()) == 102.5
        assert clock.now() == 102.5  # the child's write, seen here
    finally:
        child.stdin.close()
        child.wait(10)
        child.stdout.close()
    other = VirtualClock.attach(path)
    assert other.datetime() == clock.datetime()
    other.close()
    clock.close()


def test_reader_in_another_process_never_sees_a_torn_value(tmp_path: Path) -> None:
    # every value written is k + k·2⁻³⁰, which changes both halves of the double: a read
    # mixing two writes would break the relation
    path = tmp_path / "clock"
    clock = VirtualClock.create(path)
    reader = python(
        """
        import sys
        from drivers.sim.clock import VirtualClock
        c = VirtualClock.attach(sys.argv[1])
        bad = seen = 0
        while seen < 100_000:
            v = c.now()
            k = round(v / (1 + 2**-30))
            bad += v != k + k * 2**-30
            seen += 1
        print(bad, flush=True)
        """,
        str(path),
    )
    assert reader.stdout is not None
    k = 0
    while reader.poll() is None:
        k += 1
        clock.set(k + k * 2**-30)
    assert reader.stdout.read().strip() == "0"
    reader.stdout.close()
    reader.stdin.close()  # type: ignore[union-attr]
    clock.close()
    assert k > 1000  # the writer really raced the reader


def test_clock_file_errors(tmp_path: Path) -> None:
    path = tmp_path / "clock"
    VirtualClock.create(path)
    with pytest.raises(ClockFileError, match="cannot create the clock file"):
        VirtualClock.create(path)
    junk = tmp_path / "junk"
    junk.write_bytes(b"x" * 32)
    with pytest.raises(ClockFileError, match="not a simulator clock file"):
        VirtualClock.attach(junk)
    with pytest.raises(ClockFileError, match="cannot open the clock file"):
        VirtualClock.attach(tmp_path / "missing")


def test_simulated_bench_and_control_port_follow_the_virtual_clock() -> None:
    clock = VirtualClock(start=dt.datetime(2026, 1, 10, tzinfo=dt.UTC))
    with SimulatedBench(load_bench(GAS), clock=clock) as sim:
        client = SimControlClient(sim.control_address)
        try:
            clock.advance(7200.0)
            now, when = client.time()
            assert now == 7200.0
            assert when == dt.datetime(2026, 1, 10, 2, tzinfo=dt.UTC)
            assert sim.peek("analyzer", "time").to("s").magnitude == 7200.0
        finally:
            client.close()


def test_sim_process_with_a_virtual_clock() -> None:
    with SimProcess(GAS, virtual_clock=True) as proc:
        assert isinstance(proc.clock, VirtualClock)
        path = proc.clock.path
        assert path is not None
        assert path.exists()
        client = SimControlClient(proc.control_address)
        try:
            assert client.time()[0] == 0.0
            time.sleep(0.2)
            assert client.time()[0] == 0.0  # the child does not run on wall time
            proc.clock.advance(5400.0)
            assert client.time()[0] == 5400.0
            assert proc.peek("environment", "time").to("s").magnitude == 5400.0
        finally:
            client.close()
    assert proc.clock is None
    assert not path.exists()
    assert not os.path.exists(path.parent)
