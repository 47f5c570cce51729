"""The simulated bench served by a child process, so its physics never competes with the
GUI for the interpreter lock.

The child (``python -m lims.engine.sim_process BENCH.toml [TIME_SCALE] [--clock FILE]``) starts a
:class:`drivers.sim.SimulatedBench`, prints one JSON line with the instruments'
addresses and its control port, and serves until its standard input closes: when the
application ends, however it ends, the pipe closes and the child stops. The parent side
is :class:`SimProcess`, which offers ``peek``/``act`` through the control port for the
automatic answers of a simulated bench.

With ``virtual_clock=True`` the parent creates a shared
:class:`~drivers.sim.clock.VirtualClock` file, the child's simulator reads its time from
it, and the parent moves time with ``SimProcess.clock.advance(s)`` / ``.set(s)``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import selectors
import shutil
import subprocess
import sys
import tempfile
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

#: How much lower than the GUI the child is scheduled (as the run's threads are).
BACKGROUND_NICE = 5
#: How long the child may take to start serving.
START_TIMEOUT_S = 60.0


class SimProcessError(RuntimeError):
    """The simulated bench's child process did not start (its message says why)."""


class SimProcess:
    """A simulated bench served by a child process (use as a context manager).

    ``virtual_clock``: the child's simulated time is :attr:`clock` (a
    :class:`~drivers.sim.clock.VirtualClock` shared through a file, at 0 s and dated
    ``clock_start`` — default now — when the child starts), moved only by this process;
    otherwise the child runs in scaled wall time (``time_scale``, default the bench
    file's).
    """

    def __init__(
        self,
        bench_path: Path,
        time_scale: float | None = None,
        *,
        virtual_clock: bool = False,
        clock_start: datetime | None = None,
    ) -> None:
        self.bench_path = bench_path
        self.time_scale = time_scale
        self.virtual_clock = virtual_clock
        self.clock_start = clock_start
        self.clock: Any = None
        self.addresses: dict[str, str] = {}
        self.control_address = ""
        self._proc: subprocess.Popen[str] | None = None
        self._stderr: Any = None
        self._client: Any = None
        self._clock_dir: str | None = None

    def start(self) -> SimProcess:
        """Start the child and wait until it serves (SimProcessError otherwise)."""
        command = [sys.executable, "-m", "lims.engine.sim_process", str(self.bench_path)]
        if self.time_scale is not None:
            command.append(repr(float(self.time_scale)))
        if self.virtual_clock:
            from drivers.sim.clock import VirtualClock

            self._clock_dir = tempfile.mkdtemp(prefix="carbon-simclock-")
            clock_path = Path(self._clock_dir) / "clock"
            self.clock = VirtualClock.create(clock_path, start=self.clock_start)
            command += ["--clock", str(clock_path)]
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 (closed in stop())
        self._proc = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            cwd=Path(__file__).resolve().parents[1],
        )
        assert self._proc.stdout is not None
        with selectors.DefaultSelector() as sel:
            sel.register(self._proc.stdout, selectors.EVENT_READ)
            ready = sel.select(START_TIMEOUT_S)
        line = self._proc.stdout.readline() if ready else ""
        try:
            info = json.loads(line) if line else {}
        except json.JSONDecodeError:
            info = {"error": line.strip()}
        if "addresses" not in info:
            why = info.get("error") or self._stderr_tail() or "no answer"
            self.stop()
            raise SimProcessError(f"{self.bench_path.name}: simulated bench did not start: {why}")
        self.addresses = dict(info["addresses"])
        self.control_address = str(info["control"])
        from drivers.sim import SimControlClient

        self._client = SimControlClient(self.control_address)
        return self

    def _stderr_tail(self) -> str:
        if self._proc is not None:
            try:
                self._proc.wait(2)
            except subprocess.TimeoutExpired:
                return ""
        self._stderr.seek(0)
        lines = self._stderr.read().decode("utf-8", "replace").strip().splitlines()
        return lines[-1] if lines else ""

    def peek(self, instrument: str, observable: str) -> Any:
        """What the simulator shows a person (see :meth:`SimulatedBench.peek`)."""
        return self._client.peek(instrument, observable)

    def act(self, instrument: str, action: str, **kwargs: Any) -> Any:
        """Do what a person would do (see :meth:`SimulatedBench.act`)."""
        return self._client.act(instrument, action, **kwargs)

    def snapshot(self) -> dict[str, Any]:
        """What the simulated instruments remember (see :meth:`SimulatedBench.snapshot`)."""
        result: dict[str, Any] = self._client.snapshot()
        return result

    def restore(self, state: dict[str, Any]) -> None:
        """Continue from a snapshot (see :meth:`SimulatedBench.restore`)."""
        self._client.restore(state)

    def stop(self) -> None:
        """Close the control connection and end the child (killed after 10 s)."""
        if self._client is not None:
            self._client.close()
            self._client = None
        proc, self._proc = self._proc, None
        if proc is None:
            self._remove_clock()
            return
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None
        self._remove_clock()

    def _remove_clock(self) -> None:
        if self.clock is not None:
            self.clock.close()
            self.clock = None
        if self._clock_dir is not None:
            shutil.rmtree(self._clock_dir, ignore_errors=True)
            self._clock_dir = None

    def __enter__(self) -> SimProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def serve(bench_path: str, time_scale: str | None = None, clock_path: str | None = None) -> int:
    """The child: serve the bench until standard input closes; return the exit status."""
    from drivers.bench import load_bench
    from drivers.errors import BenchFileError
    from drivers.sim import SimulatedBench
    from drivers.sim.clock import VirtualClock

    if sys.platform == "linux":
        os.nice(BACKGROUND_NICE)  # below the GUI, like the run's threads
    try:
        bench = load_bench(bench_path)
        if time_scale is not None:
            bench = dataclasses.replace(bench, time_scale=float(time_scale))
        clock = VirtualClock.attach(clock_path) if clock_path is not None else None
        sim = SimulatedBench(bench, clock).start()
    except (BenchFileError, ValueError, OSError) as exc:
        print(json.dumps({"error": str(exc)}), flush=True)
        return 2
    try:
        print(json.dumps({"addresses": sim.addresses, "control": sim.control_address}), flush=True)
        sys.stdin.read()  # returns when the parent closes the pipe (or dies)
    finally:
        sim.stop()
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m lims.engine.sim_process")
    parser.add_argument("bench")
    parser.add_argument("time_scale", nargs="?")
    parser.add_argument("--clock", help="virtual-clock file created by the parent")
    args = parser.parse_args()
    sys.exit(serve(args.bench, args.time_scale, args.clock))
