"""The simulated bench: instruments with physics behind the real wire protocols.

:class:`SimulatedBench` serves a bench file in-process; :func:`serve_forever` (and
``python -m drivers.sim BENCH.toml``) serves it until SIGINT/SIGTERM;
:class:`SimControlClient` drives a bench served by another process.

Time: every model, fault schedule and control operation reads the bench's one
:class:`~drivers.sim.clock.Clock` — scaled wall time by default, a
:class:`~drivers.sim.clock.VirtualClock` when a run engine moves time itself.

Adding a simulated device (a new role) the same way as the others:

* the model takes the bench's ``clock`` and a ``Noise(bench.seed, instrument_name)``
  (:mod:`drivers.sim.noise`), reads time only through ``clock.now()`` and draws every
  random number as ``noise.gauss("<quantity>", clock.now(), sd, mean)``;
* its state changes only at events (a setpoint, a switch, a start), never when it is read;
  drifts are functions of absolute simulated time, lags settle exactly
  (:data:`~drivers.sim.physics.SETTLE_TAUS`), totals restart with each test, and the
  device quantizes to its resolution;
* what it still remembers goes in ``state()`` / ``restore()``; register the model with
  :meth:`SimulatedBench.register_model` so that snapshots carry it;
* its driver acknowledges every state-changing command with a round trip (SCPI
  ``;*OPC?``, a reply frame, a Modbus write response), so that a virtual clock moved
  after the driver call can never overtake the command; the transports of
  :mod:`drivers.transport` report every exchange to I/O observers
  (:mod:`drivers.io_record`) and drivers mix in
  :class:`~drivers.io_record.ObservableDriver`.
"""

from drivers.sim.clock import Clock, VirtualClock, WallClock
from drivers.sim.control import SimControlClient
from drivers.sim.serve import serve_forever
from drivers.sim.simbench import SimulatedBench

__all__ = [
    "Clock",
    "SimControlClient",
    "SimulatedBench",
    "VirtualClock",
    "WallClock",
    "serve_forever",
]
