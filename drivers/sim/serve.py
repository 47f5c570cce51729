"""``serve_forever``: run a simulated bench until SIGINT/SIGTERM (``lims sim serve``)."""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from drivers.bench import load_bench
from drivers.errors import BenchFileError
from drivers.sim.simbench import SimulatedBench

__all__ = ["serve_forever"]


def serve_forever(path: str | Path, out: TextIO, stop: threading.Event | None = None) -> int:
    """Serve the bench file at ``path``, print each instrument's address to ``out``, block.

    Returns when SIGINT or SIGTERM arrives (or ``stop`` is set), after stopping every
    server: exit code 0; 2 if the bench file is refused (its one-line message goes to
    stderr).
    """
    done = stop or threading.Event()
    previous: dict[signal.Signals, Any] = {}

    def on_signal(signum: int, frame: FrameType | None) -> None:
        done.set()

    # handlers first: a Ctrl-C while the servers start still stops them and removes the
    # pseudo-terminal links (a KeyboardInterrupt there would leave them behind)
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, on_signal)
    try:
        try:
            bench = load_bench(path)
            sim = SimulatedBench(bench)
            sim.start()
        except BenchFileError as exc:
            print(f"error: {exc}", file=sys.stderr, flush=True)
            return 2
        try:
            print(f"simulated bench {bench.name!r} (time scale {bench.time_scale:g})", file=out)
            for name, cfg in bench.instruments.items():
                address = sim.addresses.get(name, "(no data interface)")
                print(f"{name}\t{cfg.role}\t{cfg.driver}\t{address}", file=out)
            print(f"control\t{sim.control_address}", file=out)
            print("ready (Ctrl-C to stop)", file=out, flush=True)
            while not done.wait(0.2):
                pass
        finally:
            sim.stop()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print("stopped", file=out, flush=True)
    return 0
