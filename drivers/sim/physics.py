"""Time-based physics of the simulated instruments.

Every model reads simulated time from the bench's one :class:`~drivers.sim.clock.Clock`
and draws noise from a counter-based :class:`~drivers.sim.noise.Noise` keyed by what is
drawn and the simulated time, so that replies are reproducible:

* state changes only at *events* (a setpoint, a valve move, a switch, a test start or stop),
  with inputs piecewise constant in between; a read computes the value at "now" from the
  state at the last event without storing anything, so how often something is read does
  not change any later value;
* drifts are functions of absolute simulated time; first-order lags reach their target
  exactly after :data:`SETTLE_TAUS` time constants (a settled instrument has forgotten
  what it was fed before); totals of a test (volume, pulses, energy) start at the test's
  reset/start;
* quantization to the display or register resolution is done by the device.

A fresh model started at simulated time T therefore answers a step that sets its own
inputs exactly as a model that has run since 0. What physics does remember (a lag still
settling, a cumulative register) is carried by :meth:`state` / :meth:`restore`.
"""

from __future__ import annotations

import bisect
import datetime as dt
import math
import threading
from typing import Any

from drivers.sim.clock import Clock
from drivers.sim.noise import Noise

__all__ = [
    "SETTLE_TAUS",
    "ElementalModel",
    "EnvironmentModel",
    "FlowModel",
    "GasAnalyzerModel",
    "GasSupplyModel",
    "PileModel",
    "interpolate",
]

SETTLE_TAUS = 20.0
"""A first-order lag equals its target exactly after this many time constants (e^-20 ≈ 2e-9)."""

Feed = dict[str, float] | None


def _m(q: Any, unit: str) -> float:
    return float(q.to(unit).magnitude)


def interpolate(points: list[tuple[float, float]], x: float) -> float:
    """Piecewise-linear interpolation, constant beyond the end points."""
    xs = [p[0] for p in points]
    if x <= xs[0]:
        return points[0][1]
    if x >= xs[-1]:
        return points[-1][1]
    i = bisect.bisect_right(xs, x)
    (x0, y0), (x1, y1) = points[i - 1], points[i]
    return y0 + (y1 - y0) * (x - x0) / (x1 - x0)


def quantize(value: float, resolution: float) -> float:
    """``value`` rounded to a multiple of ``resolution`` (unchanged for resolution 0)."""
    return round(value / resolution) * resolution if resolution > 0 else value


class GasSupplyModel:
    """A dilutor: valve port + MFC. Knows which concentration it feeds since when."""

    def __init__(self, clock: Clock, sim: dict[str, Any], cylinders: Any, noise: Noise) -> None:
        self.clock = clock
        self.noise = noise
        self.lock = threading.RLock()
        self.max_flow = _m(sim["max_flow"], "L/min")
        self.noise_sd = _m(sim["noise_sd"], "L/min")
        self.ambient = _m(sim["ambient"], "umol/mol")
        self.cylinders = {c.port: c for c in cylinders}
        self.port = min(self.cylinders)
        self.setpoint = 0.0
        #: (simulated time, feed) at every change of what is fed; feed None = no flow
        self.history: list[tuple[float, Feed]] = [(clock.now(), self._feed())]

    def _feed(self) -> Feed:
        """Component → concentration fed now (None = ambient air, no flow)."""
        cyl = self.cylinders.get(self.port)
        if self.setpoint <= 0 or cyl is None:
            return None
        if cyl.zero:
            return {}
        return {cyl.component: _m(cyl.actual, "umol/mol")}

    def _changed(self) -> None:
        feed = self._feed()
        if feed != self.history[-1][1]:
            self.history.append((max(self.clock.now(), self.history[-1][0]), feed))

    def select_port(self, port: int) -> bool:
        """Move the valve; False if there is no such port."""
        with self.lock:
            if port not in self.cylinders:
                return False
            self.port = port
            self._changed()
            return True

    def set_flow(self, flow_lpm: float) -> None:
        """Set the MFC setpoint (clamped to full scale)."""
        with self.lock:
            self.setpoint = min(max(flow_lpm, 0.0), self.max_flow)
            self._changed()

    def read_flow(self) -> float:
        """Measured flow (L/min)."""
        with self.lock:
            if self.setpoint <= 0:
                return 0.0
            return max(
                0.0, self.noise.gauss("flow", self.clock.now(), self.noise_sd, self.setpoint)
            )

    def concentration(self, feed: Feed, component: str) -> float:
        """Concentration of ``component`` in a feed."""
        if feed is None:
            return self.ambient
        return feed.get(component, 0.0)

    def state(self) -> dict[str, Any]:
        """What this model remembers (JSON-able)."""
        with self.lock:
            return {
                "port": self.port,
                "setpoint": self.setpoint,
                "history": [[t, f] for t, f in self.history],
            }

    def restore(self, state: dict[str, Any]) -> None:
        """Take a :meth:`state`."""
        with self.lock:
            self.port = int(state["port"])
            self.setpoint = float(state["setpoint"])
            self.history = [(float(t), f) for t, f in state["history"]]


class GasAnalyzerModel:
    """The gas analyzer under test.

    Sensor target f(c) = (1+gain)·c + offset + 2·nl·c·(1 − c/R) (parabolic, zero at 0 and
    full scale R, nl·R/2 at mid-range); the sensor follows f through a first-order lag
    with tau = t90/ln 10, reaching f exactly after SETTLE_TAUS·tau; the indication adds
    drift·t (t = absolute simulated time) and Gaussian noise, quantized to the resolution.
    """

    def __init__(self, clock: Clock, sim: dict[str, Any], supply: GasSupplyModel, noise: Noise):
        self.clock = clock
        self.noise = noise
        self.lock = threading.Lock()
        self.supply = supply
        self.component = sim["component"]
        self.range = _m(sim["range"], "umol/mol")
        self.gain = _m(sim["gain_error"], "")
        self.offset = _m(sim["offset"], "umol/mol")
        self.nl = _m(sim["nonlinearity"], "")
        self.drift_per_s = _m(sim["drift"], "umol/mol/s")
        self.noise_sd = _m(sim["noise_sd"], "umol/mol")
        self.tau = _m(sim["t90"], "s") / math.log(10)
        self.settle = SETTLE_TAUS * self.tau
        self.resolution = _m(sim["resolution"], "umol/mol")
        #: sensor value at the start of each segment of the supply's history (memo)
        self.starts: list[float] = [self._target_of(supply.history[0][1])]

    def target(self, c: float) -> float:
        """Steady-state response to concentration ``c`` (without drift and noise)."""
        return (1 + self.gain) * c + self.offset + 2 * self.nl * c * (1 - c / self.range)

    def _target_of(self, feed: Feed) -> float:
        return self.target(self.supply.concentration(feed, self.component))

    def _lag(self, start: float, target: float, elapsed: float) -> float:
        if elapsed >= self.settle:
            return target
        return target + (start - target) * math.exp(-elapsed / self.tau)

    def sensor(self, now: float) -> float:
        """Sensor value at simulated time ``now`` (lag only, no drift or noise)."""
        with self.supply.lock, self.lock:
            history = self.supply.history
            while len(self.starts) < len(history):
                j = len(self.starts) - 1
                (t0, feed), t1 = history[j], history[j + 1][0]
                self.starts.append(self._lag(self.starts[j], self._target_of(feed), t1 - t0))
            j = len(history) - 1
            while j > 0 and history[j][0] > now:
                j -= 1
            t0, feed = history[j]
            return self._lag(self.starts[j], self._target_of(feed), max(0.0, now - t0))

    def indication(self) -> float:
        """The displayed concentration now (µmol/mol)."""
        now = self.clock.now()
        value = self.sensor(now) + self.drift_per_s * now
        value = self.noise.gauss("concentration", now, self.noise_sd, value)
        return quantize(value, self.resolution)

    def state(self) -> dict[str, Any]:
        """What this model remembers (JSON-able)."""
        with self.lock:
            return {"starts": list(self.starts)}

    def restore(self, state: dict[str, Any]) -> None:
        """Take a :meth:`state` (restore the supply first)."""
        with self.lock:
            self.starts = [float(v) for v in state["starts"]]


class FlowModel:
    """Flow controller, flowmeter under test and reference standard on one line.

    The true flow is the controller's setpoint (piecewise constant). The meter under
    test indicates volume·(1 + e(q) + ε), e from the error curve, ε ~ N(0, noise_sd)
    drawn at the start of each totalization run; its pulses = indicated volume × K-factor.
    The standard totalizes the true volume and counts the meter's pulses while running;
    reset zeroes both. The meter's own display register counts since the bench started.
    """

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.lock = threading.Lock()
        self.max_flow = 0.0
        self.mfc_noise = 0.0
        self.curve: list[tuple[float, float]] = [(0.0, 0.0)]
        self.meter_noise = 0.0
        self.k_factor = 0.0  # pulses per litre
        self.ref_noise = 0.0
        self.controller_rng = self.meter_rng = self.standard_rng = Noise(0, "")
        self.flow = 0.0  # L/min, true
        self.running = False
        self.run_error = 0.0
        # totals at the last event (time t): L true while running, L indicated by the
        # meter while running, L indicated by the meter since start
        self.t = clock.now()
        self.volume = self.meter_volume = self.meter_total = 0.0

    def configure_controller(self, sim: dict[str, Any], noise: Noise) -> None:
        """Take the flow controller's physics."""
        self.max_flow = _m(sim["max_flow"], "L/min")
        self.mfc_noise = _m(sim["noise_sd"], "L/min")
        self.controller_rng = noise

    def configure_meter(self, sim: dict[str, Any], noise: Noise) -> None:
        """Take the meter under test's physics."""
        self.curve = [(_m(q, "L/min"), _m(e, "")) for q, e in sim["error_curve"]]
        self.meter_noise = _m(sim["noise_sd"], "")
        self.k_factor = _m(sim["k_factor"], "1/L")
        self.meter_rng = noise

    def configure_standard(self, sim: dict[str, Any], noise: Noise) -> None:
        """Take the reference standard's physics."""
        self.ref_noise = _m(sim["noise_sd"], "")
        self.standard_rng = noise

    def _project(self, now: float) -> tuple[float, float, float]:
        """(volume, meter volume, meter total) at ``now`` from the last event."""
        dt_min = (now - self.t) / 60.0
        if dt_min <= 0 or self.flow <= 0:
            return self.volume, self.meter_volume, self.meter_total
        dv = self.flow * dt_min
        dm = dv * (1 + interpolate(self.curve, self.flow) + self.run_error)
        if self.running:
            return self.volume + dv, self.meter_volume + dm, self.meter_total + dm
        return self.volume, self.meter_volume, self.meter_total + dm

    def _event(self) -> float:
        now = max(self.clock.now(), self.t)
        self.volume, self.meter_volume, self.meter_total = self._project(now)
        self.t = now
        return now

    def set_flow(self, flow_lpm: float) -> float:
        """Set the controller's setpoint (clamped); returns the setpoint."""
        with self.lock:
            self._event()
            self.flow = min(max(flow_lpm, 0.0), self.max_flow)
            return self.flow

    def controller_reading(self) -> float:
        """Flow indicated by the controller (L/min)."""
        with self.lock:
            if not self.flow:
                return 0.0
            now = self.clock.now()
            return max(0.0, self.controller_rng.gauss("flow", now, self.mfc_noise, self.flow))

    def reference_flow(self) -> float:
        """Flow indicated by the reference standard (L/min)."""
        with self.lock:
            if not self.flow:
                return 0.0
            return self.flow * self.standard_rng.gauss("flow", self.clock.now(), self.ref_noise, 1)

    def totals(self) -> tuple[float, int, bool]:
        """(true volume L, pulses counted, running) of the standard."""
        with self.lock:
            volume, meter_volume, _ = self._project(self.clock.now())
            return volume, math.floor(meter_volume * self.k_factor), self.running

    def control(self, code: int) -> bool:
        """1 start, 2 stop, 3 reset; False for an unknown code."""
        with self.lock:
            now = self._event()
            if code == 1:
                if not self.running:
                    self.running = True
                    self.run_error = self.meter_rng.gauss("run_error", now, self.meter_noise)
            elif code == 2:
                self.running = False
            elif code == 3:
                self.volume = 0.0
                self.meter_volume = 0.0
            else:
                return code == 0
            return True

    def meter_display(self) -> float:
        """Volume shown by the meter under test since the bench started (L)."""
        with self.lock:
            return self._project(self.clock.now())[2]

    _STATE = ("flow", "running", "run_error", "t", "volume", "meter_volume", "meter_total")

    def state(self) -> dict[str, Any]:
        """What this model remembers (JSON-able)."""
        with self.lock:
            return {k: getattr(self, k) for k in self._STATE}

    def restore(self, state: dict[str, Any]) -> None:
        """Take a :meth:`state`."""
        with self.lock:
            for k in self._STATE:
                setattr(self, k, bool(state[k]) if k == "running" else float(state[k]))


class PileModel:
    """Charging pile under test + load + verification device.

    Power P = U_nominal · I while the load is on. The pile's meter registers
    E_pile = ∫ P·(1 + e(I)) dt (e from the error curve) and emits pulses at
    ``meter_constant`` per kWh of E_pile; its display shows E_pile (its register since the
    bench started) truncated to the display resolution, the payment amount = displayed
    energy × tariff rounded to 0.01 yuan, and its clock runs ``clock_offset`` ahead of true
    time. The verification device integrates the standard energy ∫P dt and counts the
    pile's pulses during a test; where between two pulses the pile's register stands when
    a test starts is drawn uniformly for that start (its phase, which the device cannot
    see), so a test's count depends on the test alone.
    """

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.lock = threading.Lock()
        self.rng = Noise(0, "")
        self.kind = "ac"
        self.voltage = 220.0
        self.curve: list[tuple[float, float]] = [(0.0, 0.0)]
        self.clock_offset = 0.0
        self.constant = 1000.0  # imp/kWh of the pile
        self.tariff = 0.0
        self.display_resolution = 0.001
        self.max_current = 0.0
        self.tester_noise = 0.0
        self.tester_constant = 1000.0  # as configured on the tester
        self.current = 0.0
        self.on = False
        self.test_running = False
        # at the last event (time t): kWh registered by the pile since start, kWh of the
        # standard during the test, the pile's register at the test's start and stop
        self.t = clock.now()
        self.pile_energy = self.std_energy = 0.0
        self.pile_energy_at_start = self.pile_energy_at_stop = 0.0
        self.pulse_phase = 0.0  # fraction of a pulse the register held at the test start

    def configure_pile(self, sim: dict[str, Any]) -> None:
        """Take the pile's physics."""
        self.kind = sim["kind"]
        self.voltage = _m(sim["nominal_voltage"], "V")
        self.curve = [(_m(i, "A"), _m(e, "")) for i, e in sim["errors"]]
        self.clock_offset = _m(sim["clock_offset"], "s")
        self.constant = _m(sim["meter_constant"], "1/kWh")
        self.tariff = float(sim["tariff"])
        self.display_resolution = _m(sim["display_resolution"], "kWh")
        self.tester_constant = self.constant

    def configure_load(self, sim: dict[str, Any]) -> None:
        """Take the load's physics."""
        self.max_current = _m(sim["max_current"], "A")

    def configure_tester(self, sim: dict[str, Any], noise: Noise) -> None:
        """Take the verification device's physics."""
        self.tester_noise = _m(sim["noise_sd"], "")
        self.rng = noise

    def _project(self, now: float) -> tuple[float, float]:
        """(pile register, standard energy) at ``now`` from the last event."""
        hours = (now - self.t) / 3600.0
        p = self.voltage * self.current / 1000.0 if self.on else 0.0
        if hours <= 0 or p == 0:
            return self.pile_energy, self.std_energy
        pile = self.pile_energy + p * (1 + interpolate(self.curve, self.current)) * hours
        return pile, self.std_energy + p * hours if self.test_running else self.std_energy

    def _event(self) -> None:
        now = max(self.clock.now(), self.t)
        self.pile_energy, self.std_energy = self._project(now)
        self.t = now

    def set_current(self, amps: float) -> None:
        """Load current setpoint (clamped to the load's maximum)."""
        with self.lock:
            self._event()
            self.current = min(max(amps, 0.0), self.max_current)

    def set_output(self, on: bool) -> None:
        """Switch the load."""
        with self.lock:
            self._event()
            self.on = on

    def measured_current(self) -> float:
        """Current flowing (A)."""
        with self.lock:
            i = self.current if self.on else 0.0
            return (
                i * self.rng.gauss("current", self.clock.now(), self.tester_noise, 1) if i else 0.0
            )

    def measured_voltage(self) -> float:
        """Output voltage (V)."""
        with self.lock:
            return self.voltage * self.rng.gauss("voltage", self.clock.now(), self.tester_noise, 1)

    def start_test(self) -> None:
        """Zero and start the verification device's energy test."""
        with self.lock:
            self._event()
            self.test_running = True
            self.std_energy = 0.0
            self.pile_energy_at_start = self.pile_energy
            self.pulse_phase = self.rng.uniform("pulse_phase", self.t)

    def stop_test(self) -> None:
        """Stop the energy test."""
        with self.lock:
            self._event()
            if self.test_running:
                self.pile_energy_at_stop = self.pile_energy
            self.test_running = False

    def test_results(self) -> tuple[float, int]:
        """(standard energy kWh, pulses counted) of the current/last test."""
        with self.lock:
            pile, std = self._project(self.clock.now())
            end = pile if self.test_running else self.pile_energy_at_stop
            registered = (end - self.pile_energy_at_start) * self.constant
            return std, max(math.floor(self.pulse_phase + registered), 0)

    def display_energy(self) -> float:
        """Energy on the pile's display (kWh, truncated to the display resolution)."""
        with self.lock:
            pile, _ = self._project(self.clock.now())
            steps = math.floor(pile / self.display_resolution + 1e-9)
            return round(steps * self.display_resolution, 6)

    def payment(self) -> float:
        """Payment amount on the display (yuan, 0.01)."""
        return round(self.display_energy() * self.tariff + 1e-9, 2)

    def pile_clock(self) -> dt.datetime:
        """The pile's clock."""
        return self.clock.datetime() + dt.timedelta(seconds=self.clock_offset)

    _STATE = (
        "current",
        "on",
        "test_running",
        "tester_constant",
        "t",
        "pile_energy",
        "std_energy",
        "pile_energy_at_start",
        "pile_energy_at_stop",
        "pulse_phase",
    )

    def state(self) -> dict[str, Any]:
        """What this model remembers (JSON-able)."""
        with self.lock:
            return {k: getattr(self, k) for k in self._STATE}

    def restore(self, state: dict[str, Any]) -> None:
        """Take a :meth:`state`."""
        with self.lock:
            for k in self._STATE:
                v = state[k]
                setattr(self, k, bool(v) if k in ("on", "test_running") else float(v))


class ElementalModel:
    """CHNS analyzer: a sample loaded now yields a result record ``run_time`` later.

    Result fraction = certified·(1 + bias) + N(0, noise_sd) for each element the
    reference substance certifies. The record's run number is the sample's position in the
    current sequence (1 when loaded into an idle analyzer).
    """

    def __init__(self, clock: Clock, sim: dict[str, Any], noise: Noise) -> None:
        self.clock = clock
        self.noise = noise
        self.lock = threading.Lock()
        self.bias = {e: _m(v, "") for e, v in sim["bias"].items()}
        self.sd = {e: _m(v, "percent") for e, v in sim["noise_sd"].items()}
        self.run_time = _m(sim["run_time"], "s")
        self.substances = {
            name: {e: _m(v, "percent") for e, v in table.items()}
            for name, table in sim["substances"].items()
        }
        self.queue: list[tuple[float, str]] = []

    def analyze(self, sample_id: str, substance: str, mass_mg: float, overrange: bool) -> float:
        """Load a sample; returns the simulated time its result will be sent."""
        if substance not in self.substances:
            raise KeyError(f"unknown substance {substance!r} (known: {', '.join(self.substances)})")
        if not sample_id or ";" in sample_id:
            raise ValueError(f"bad sample id {sample_id!r}")
        if not mass_mg > 0:
            raise ValueError(f"sample mass must be positive, got {mass_mg}")
        with self.lock:
            now = self.clock.now()
            running = [t for t, _ in self.queue if t > now]
            fields = [f"RES;{len(running) + 1:04d};{sample_id};{mass_mg:.3f} mg"]
            for element in ("C", "H", "N", "S"):
                cert = self.substances[substance].get(element)
                if cert is None:
                    fields.append(f"{element}=--")
                    continue
                mean = cert * (1 + self.bias[element])
                value = self.noise.gauss(f"{sample_id}.{element}", now, self.sd[element], mean)
                fields.append(f"{element}={'OVR' if overrange else f'{max(value, 0.0):.2f}'}")
            due = max(running, default=now) + self.run_time
            self.queue.append((due, ";".join(fields)))
            return due

    def due_records(self) -> list[str]:
        """Records whose run has finished (removed from the queue)."""
        with self.lock:
            now = self.clock.now()
            ready = [r for t, r in self.queue if t <= now]
            self.queue = [(t, r) for t, r in self.queue if t > now]
            return ready

    def state(self) -> dict[str, Any]:
        """What this model remembers (JSON-able)."""
        with self.lock:
            return {"queue": [[t, r] for t, r in self.queue]}

    def restore(self, state: dict[str, Any]) -> None:
        """Take a :meth:`state`."""
        with self.lock:
            self.queue = [(float(t), str(r)) for t, r in state["queue"]]


class EnvironmentModel:
    """Temperature, humidity and pressure varying slowly (sinusoids with a shared period,
    functions of absolute simulated time)."""

    def __init__(self, clock: Clock, sim: dict[str, Any], noise: Noise) -> None:
        self.clock = clock
        self.phase = 2 * math.pi * noise.uniform("phase", 0.0)
        self.t0 = _m(sim["temperature"], "degC")
        self.h0 = _m(sim["humidity"], "percent")
        self.p0 = _m(sim["pressure"], "kPa")
        self.t_swing = _m(sim["temperature_swing"], "K")
        self.h_swing = _m(sim["humidity_swing"], "percent")
        self.p_swing = _m(sim["pressure_swing"], "kPa")
        self.period = _m(sim["period"], "s")

    def values(self) -> tuple[float, float, float]:
        """(°C, %RH, kPa) now."""
        w = math.sin(2 * math.pi * self.clock.now() / self.period + self.phase)
        return self.t0 + self.t_swing * w, self.h0 - self.h_swing * w, self.p0 + self.p_swing * w
