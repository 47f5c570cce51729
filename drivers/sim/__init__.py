"""The simulated bench: instruments with physics behind the real wire protocols.

:class:`SimulatedBench` serves a bench file in-process; :func:`serve_forever` (and
``python -m drivers.sim BENCH.toml``) serves it until SIGINT/SIGTERM;
:class:`SimControlClient` drives a bench served by another process.
"""

from drivers.sim.control import SimControlClient
from drivers.sim.serve import serve_forever
from drivers.sim.simbench import SimulatedBench

__all__ = ["SimControlClient", "SimulatedBench", "serve_forever"]
