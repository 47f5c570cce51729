"""Time-based physics of the simulated instruments.

Every model reads simulated time from one :class:`SimClock` (simulated seconds = wall
seconds × ``time_scale``) and updates lazily: state is integrated exactly from the last
update to "now" whenever something is read or changed, with inputs piecewise constant
between changes. Randomness comes from one seeded :class:`random.Random` per model.
"""

from __future__ import annotations

import bisect
import datetime as dt
import math
import random
import threading
import time
from typing import Any

__all__ = [
    "ElementalModel",
    "EnvironmentModel",
    "FlowModel",
    "GasAnalyzerModel",
    "GasSupplyModel",
    "PileModel",
    "SimClock",
    "interpolate",
]


class SimClock:
    """Simulated time since the bench started."""

    def __init__(self, time_scale: float) -> None:
        self.time_scale = time_scale
        self._t0 = time.monotonic()
        self.start_datetime = dt.datetime.now(dt.UTC)

    def now(self) -> float:
        """Simulated seconds since start."""
        return (time.monotonic() - self._t0) * self.time_scale

    def datetime(self) -> dt.datetime:
        """The simulated wall-clock date and time (UTC)."""
        return self.start_datetime + dt.timedelta(seconds=self.now())


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


class GasSupplyModel:
    """A dilutor: valve port + MFC. Knows which concentration it feeds since when."""

    def __init__(self, clock: SimClock, sim: dict[str, Any], cylinders: Any, seed: int) -> None:
        self.clock = clock
        self.lock = threading.RLock()
        self.rng = random.Random(seed)
        self.max_flow = _m(sim["max_flow"], "L/min")
        self.noise_sd = _m(sim["noise_sd"], "L/min")
        self.ambient = _m(sim["ambient"], "umol/mol")
        self.cylinders = {c.port: c for c in cylinders}
        self.port = min(self.cylinders)
        self.setpoint = 0.0
        self.history: list[tuple[float, dict[str, float] | None]] = [(0.0, self._feed())]

    def _feed(self) -> dict[str, float] | None:
        """Component → concentration fed now (None = ambient air, no flow)."""
        cyl = self.cylinders.get(self.port)
        if self.setpoint <= 0 or cyl is None:
            return None
        if cyl.zero:
            return {}
        return {cyl.component: _m(cyl.actual, "umol/mol")}

    def _changed(self) -> None:
        self.history.append((self.clock.now(), self._feed()))

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
            return max(0.0, self.setpoint + self.rng.gauss(0.0, self.noise_sd))

    def concentration(self, feed: dict[str, float] | None, component: str) -> float:
        """Concentration of ``component`` in a feed."""
        if feed is None:
            return self.ambient
        return feed.get(component, 0.0)


class GasAnalyzerModel:
    """The gas analyzer under test.

    Sensor target f(c) = (1+gain)·c + offset + 2·nl·c·(1 − c/R) (parabolic, zero at 0 and
    full scale R, nl·R/2 at mid-range); the sensor follows f through a first-order lag
    with tau = t90/ln 10; the indication adds drift·t and Gaussian noise, quantized to
    the resolution.
    """

    def __init__(
        self, clock: SimClock, sim: dict[str, Any], supply: GasSupplyModel, seed: int
    ) -> None:
        self.clock = clock
        self.lock = threading.Lock()
        self.rng = random.Random(seed)
        self.supply = supply
        self.component = sim["component"]
        self.range = _m(sim["range"], "umol/mol")
        self.gain = _m(sim["gain_error"], "")
        self.offset = _m(sim["offset"], "umol/mol")
        self.nl = _m(sim["nonlinearity"], "")
        self.drift_per_s = _m(sim["drift"], "umol/mol/s")
        self.noise_sd = _m(sim["noise_sd"], "umol/mol")
        self.tau = _m(sim["t90"], "s") / math.log(10)
        self.resolution = _m(sim["resolution"], "umol/mol")
        first = supply.history[0][1]
        self.y = self.target(supply.concentration(first, self.component))
        self.t = 0.0

    def target(self, c: float) -> float:
        """Steady-state response to concentration ``c`` (without drift and noise)."""
        return (1 + self.gain) * c + self.offset + 2 * self.nl * c * (1 - c / self.range)

    def _advance(self, now: float) -> None:
        with self.supply.lock:
            history = list(self.supply.history)
        t = self.t
        for i, (_t_change, feed) in enumerate(history):
            t_end = history[i + 1][0] if i + 1 < len(history) else math.inf
            if t_end <= t:
                continue
            seg_end = min(t_end, now)
            if seg_end > t:
                f = self.target(self.supply.concentration(feed, self.component))
                self.y = f + (self.y - f) * math.exp(-(seg_end - t) / self.tau)
                t = seg_end
            if t >= now:
                break
        self.t = max(self.t, now)

    def indication(self) -> float:
        """The displayed concentration now (µmol/mol)."""
        with self.lock:
            now = self.clock.now()
            self._advance(now)
            value = self.y + self.drift_per_s * now + self.rng.gauss(0.0, self.noise_sd)
        if self.resolution > 0:
            value = round(value / self.resolution) * self.resolution
        return value


class FlowModel:
    """Flow controller, flowmeter under test and reference standard on one line.

    The true flow is the controller's setpoint (piecewise constant). The meter under
    test indicates volume·(1 + e(q) + ε), e from the error curve, ε ~ N(0, noise_sd)
    drawn per totalization run; its pulses = indicated volume × K-factor. The standard
    totalizes the true volume and counts the meter's pulses while running.
    """

    def __init__(self, clock: SimClock, seed: int) -> None:
        self.clock = clock
        self.lock = threading.Lock()
        self.rng = random.Random(seed)
        self.max_flow = 0.0
        self.mfc_noise = 0.0
        self.curve: list[tuple[float, float]] = [(0.0, 0.0)]
        self.meter_noise = 0.0
        self.k_factor = 0.0  # pulses per litre
        self.ref_noise = 0.0
        self.flow = 0.0  # L/min, true
        self.t = 0.0
        self.running = False
        self.run_error = 0.0
        self.volume = 0.0  # L, true, while running
        self.meter_volume = 0.0  # L, indicated by the meter while running
        self.meter_total = 0.0  # L, indicated by the meter since start (its own register)
        self.pulses_base = 0.0

    def configure_controller(self, sim: dict[str, Any]) -> None:
        """Take the flow controller's physics."""
        self.max_flow = _m(sim["max_flow"], "L/min")
        self.mfc_noise = _m(sim["noise_sd"], "L/min")

    def configure_meter(self, sim: dict[str, Any]) -> None:
        """Take the meter under test's physics."""
        self.curve = [(_m(q, "L/min"), _m(e, "")) for q, e in sim["error_curve"]]
        self.meter_noise = _m(sim["noise_sd"], "")
        self.k_factor = _m(sim["k_factor"], "1/L")

    def configure_standard(self, sim: dict[str, Any]) -> None:
        """Take the reference standard's physics."""
        self.ref_noise = _m(sim["noise_sd"], "")

    def _advance(self) -> None:
        now = self.clock.now()
        dt_min = (now - self.t) / 60.0
        if dt_min > 0:
            err = interpolate(self.curve, self.flow) if self.flow > 0 else 0.0
            dv = self.flow * dt_min
            dm = dv * (1 + err + self.run_error)
            self.meter_total += dm
            if self.running:
                self.volume += dv
                self.meter_volume += dm
        self.t = now

    def set_flow(self, flow_lpm: float) -> float:
        """Set the controller's setpoint (clamped); returns the setpoint."""
        with self.lock:
            self._advance()
            self.flow = min(max(flow_lpm, 0.0), self.max_flow)
            return self.flow

    def controller_reading(self) -> float:
        """Flow indicated by the controller (L/min)."""
        with self.lock:
            return max(0.0, self.flow + self.rng.gauss(0.0, self.mfc_noise)) if self.flow else 0.0

    def reference_flow(self) -> float:
        """Flow indicated by the reference standard (L/min)."""
        with self.lock:
            return self.flow * (1 + self.rng.gauss(0.0, self.ref_noise)) if self.flow else 0.0

    def totals(self) -> tuple[float, int, bool]:
        """(true volume L, pulses counted, running) of the standard."""
        with self.lock:
            self._advance()
            return self.volume, math.floor(self.meter_volume * self.k_factor), self.running

    def control(self, code: int) -> bool:
        """1 start, 2 stop, 3 reset; False for an unknown code."""
        with self.lock:
            self._advance()
            if code == 1:
                if not self.running:
                    self.running = True
                    self.run_error = self.rng.gauss(0.0, self.meter_noise)
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
            self._advance()
            return self.meter_total


class PileModel:
    """Charging pile under test + load + verification device.

    Power P = U_nominal · I while the load is on. The pile's meter registers
    E_pile = ∫ P·(1 + e(I)) dt (e from the error curve) and emits pulses at
    ``meter_constant`` per kWh of E_pile; its display shows E_pile (since bench start)
    truncated to the display resolution, the payment amount = displayed energy × tariff
    rounded to 0.01 yuan, and its clock runs ``clock_offset`` ahead of true time. The
    verification device integrates the standard energy ∫P dt and counts the pile's pulses
    during a test.
    """

    def __init__(self, clock: SimClock, seed: int) -> None:
        self.clock = clock
        self.lock = threading.Lock()
        self.rng = random.Random(seed)
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
        self.t = 0.0
        self.pile_energy = 0.0  # kWh since start, registered by the pile
        self.test_running = False
        self.std_energy = 0.0  # kWh during the test
        self.pile_energy_at_start = 0.0
        self.pile_energy_at_stop = 0.0

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

    def configure_tester(self, sim: dict[str, Any]) -> None:
        """Take the verification device's physics."""
        self.tester_noise = _m(sim["noise_sd"], "")

    def _power_kw(self) -> float:
        return self.voltage * self.current / 1000.0 if self.on else 0.0

    def _advance(self) -> None:
        now = self.clock.now()
        hours = (now - self.t) / 3600.0
        if hours > 0:
            p = self._power_kw()
            err = interpolate(self.curve, self.current) if p else 0.0
            self.pile_energy += p * (1 + err) * hours
            if self.test_running:
                self.std_energy += p * hours
        self.t = now

    def set_current(self, amps: float) -> None:
        """Load current setpoint (clamped to the load's maximum)."""
        with self.lock:
            self._advance()
            self.current = min(max(amps, 0.0), self.max_current)

    def set_output(self, on: bool) -> None:
        """Switch the load."""
        with self.lock:
            self._advance()
            self.on = on

    def measured_current(self) -> float:
        """Current flowing (A)."""
        with self.lock:
            i = self.current if self.on else 0.0
            return i * (1 + self.rng.gauss(0.0, self.tester_noise)) if i else 0.0

    def measured_voltage(self) -> float:
        """Output voltage (V)."""
        with self.lock:
            return self.voltage * (1 + self.rng.gauss(0.0, self.tester_noise))

    def start_test(self) -> None:
        """Zero and start the verification device's energy test."""
        with self.lock:
            self._advance()
            self.test_running = True
            self.std_energy = 0.0
            self.pile_energy_at_start = self.pile_energy

    def stop_test(self) -> None:
        """Stop the energy test."""
        with self.lock:
            self._advance()
            if self.test_running:
                self.pile_energy_at_stop = self.pile_energy
            self.test_running = False

    def test_results(self) -> tuple[float, int]:
        """(standard energy kWh, pulses counted) of the current/last test."""
        with self.lock:
            self._advance()
            end = self.pile_energy if self.test_running else self.pile_energy_at_stop
            pulses = math.floor(end * self.constant) - math.floor(
                self.pile_energy_at_start * self.constant
            )
            return self.std_energy, max(pulses, 0)

    def display_energy(self) -> float:
        """Energy on the pile's display (kWh, truncated to the display resolution)."""
        with self.lock:
            self._advance()
            steps = math.floor(self.pile_energy / self.display_resolution + 1e-9)
            return round(steps * self.display_resolution, 6)

    def payment(self) -> float:
        """Payment amount on the display (yuan, 0.01)."""
        return round(self.display_energy() * self.tariff + 1e-9, 2)

    def pile_clock(self) -> dt.datetime:
        """The pile's clock."""
        return self.clock.datetime() + dt.timedelta(seconds=self.clock_offset)


class ElementalModel:
    """CHNS analyzer: a sample loaded now yields a result record ``run_time`` later.

    Result fraction = certified·(1 + bias) + N(0, noise_sd) for each element the
    reference substance certifies.
    """

    def __init__(self, clock: SimClock, sim: dict[str, Any], seed: int) -> None:
        self.clock = clock
        self.lock = threading.Lock()
        self.rng = random.Random(seed)
        self.bias = {e: _m(v, "") for e, v in sim["bias"].items()}
        self.noise = {e: _m(v, "percent") for e, v in sim["noise_sd"].items()}
        self.run_time = _m(sim["run_time"], "s")
        self.substances = {
            name: {e: _m(v, "percent") for e, v in table.items()}
            for name, table in sim["substances"].items()
        }
        self.queue: list[tuple[float, str]] = []
        self.run_no = 0

    def analyze(self, sample_id: str, substance: str, mass_mg: float, overrange: bool) -> float:
        """Load a sample; returns the simulated time its result will be sent."""
        if substance not in self.substances:
            raise KeyError(f"unknown substance {substance!r} (known: {', '.join(self.substances)})")
        if not sample_id or ";" in sample_id:
            raise ValueError(f"bad sample id {sample_id!r}")
        if not mass_mg > 0:
            raise ValueError(f"sample mass must be positive, got {mass_mg}")
        with self.lock:
            self.run_no += 1
            fields = [f"RES;{self.run_no:04d};{sample_id};{mass_mg:.3f} mg"]
            for element in ("C", "H", "N", "S"):
                cert = self.substances[substance].get(element)
                if cert is None:
                    fields.append(f"{element}=--")
                    continue
                value = cert * (1 + self.bias[element]) + self.rng.gauss(0.0, self.noise[element])
                fields.append(f"{element}={'OVR' if overrange else f'{max(value, 0.0):.2f}'}")
            due = (self.queue[-1][0] if self.queue else self.clock.now()) + self.run_time
            due = max(due, self.clock.now() + self.run_time)
            self.queue.append((due, ";".join(fields)))
            return due

    def due_records(self) -> list[str]:
        """Records whose run has finished (removed from the queue)."""
        with self.lock:
            now = self.clock.now()
            ready = [r for t, r in self.queue if t <= now]
            self.queue = [(t, r) for t, r in self.queue if t > now]
            return ready


class EnvironmentModel:
    """Temperature, humidity and pressure varying slowly (sinusoids with a shared period)."""

    def __init__(self, clock: SimClock, sim: dict[str, Any], seed: int) -> None:
        self.clock = clock
        rng = random.Random(seed)
        self.phase = rng.uniform(0, 2 * math.pi)
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
