"""Physics of the simulated on-site instruments: a belt conveyor with its belt scale, a
flue duct with its CEMS gas analyzer and flow monitor, and a reference-method probe.

All models read simulated time from the bench's one :class:`~drivers.sim.physics.SimClock`.
"""

from __future__ import annotations

import bisect
import math
import random
import threading
from typing import Any

from drivers.sim.clock import Clock as SimClock
from drivers.sim.fuel import WeighingModel
from drivers.sim.physics import GasSupplyModel

__all__ = [
    "STANDARD_PRESSURE_KPA",
    "STANDARD_TEMPERATURE_K",
    "BeltModel",
    "CemsAnalyzerModel",
    "FlowMonitorModel",
    "FlueModel",
    "StackProbeModel",
]

STANDARD_TEMPERATURE_K = 273.15
STANDARD_PRESSURE_KPA = 101.325


def _m(q: Any, unit: str) -> float:
    return float(q.to(unit).magnitude)


class BeltModel:
    """A belt conveyor, its belt scale (integrator) and the control instrument.

    The belt runs at ``belt_speed``. Material fed at rate R lies on the belt at
    q = R/v kg/m; a test chain adds its linear mass. The weighbridge sees
    (q + chain + z(t))·(1 + span_error) with the zero error z(t) = zero_error +
    zero_drift·t, the speed sensor (1 + speed_error)·v; the integrator totalizes their
    product exactly (inputs piecewise constant between actions). Material fed for a test
    has first been weighed on the control instrument (its pan holds the batch).
    """

    def __init__(
        self, clock: SimClock, sim: dict[str, Any], control: WeighingModel | None, seed: int
    ) -> None:
        self.clock = clock
        self.lock = threading.Lock()
        self.rng = random.Random(seed)
        self.control = control
        self.speed = _m(sim["belt_speed"], "m/s")
        self.span = _m(sim["span_error"], "")
        self.speed_error = _m(sim["speed_error"], "")
        self.zero0 = _m(sim["zero_error"], "kg/m")
        self.zero_drift = _m(sim["zero_drift"], "kg/m/s")
        self.noise_sd = _m(sim["noise_sd"], "kg/m")
        self.max_rate = _m(sim["max_rate"], "kg/s")
        self.chain_load = _m(sim["chain_load"], "kg/m")
        self.t = 0.0
        self.total = 0.0  # kg, integrator's resettable totalizer
        self.true_passed = 0.0  # kg of material that passed since start
        self.feed_rate = 0.0  # kg/s
        self.feed_until = 0.0
        self.chain_on = False

    def _load_true(self, material: bool) -> float:
        q = self.feed_rate / self.speed if material else 0.0
        return q + (self.chain_load if self.chain_on else 0.0)

    def _integrate(self, t0: float, t1: float, material: bool) -> None:
        if t1 <= t0:
            return
        v_meas = self.speed * (1 + self.speed_error)
        zero_mean = self.zero0 + self.zero_drift * (t0 + t1) / 2  # z linear in t: exact
        load = (self._load_true(material) + zero_mean) * (1 + self.span)
        self.total += load * v_meas * (t1 - t0)
        if material:
            self.true_passed += self.feed_rate * (t1 - t0)

    def _advance(self) -> None:
        now = self.clock.now()
        if now <= self.t:
            return
        if self.feed_rate > 0 and self.t < self.feed_until:
            split = min(now, self.feed_until)
            self._integrate(self.t, split, True)
            self._integrate(split, now, False)
            if now >= self.feed_until:
                self.feed_rate = 0.0
        else:
            self._integrate(self.t, now, False)
        self.t = now

    def feed(self, mass_kg: float, rate_kg_s: float) -> float:
        """Feed a batch of ``mass_kg`` at ``rate_kg_s``; the batch was weighed on the control
        instrument first. Returns the simulated time the feed ends."""
        if not mass_kg > 0 or not rate_kg_s > 0:
            raise ValueError("batch mass and feed rate must be positive")
        with self.lock:
            self._advance()
            if self.feed_rate > 0:
                raise ValueError("a batch is still being fed")
            if self.control is not None:
                self.control.place(mass_kg if self.control.unit == "kg" else mass_kg / 1000.0)
            self.feed_rate = rate_kg_s
            self.feed_until = self.t + mass_kg / rate_kg_s
            return self.feed_until

    def set_chain(self, on: bool) -> float:
        """Lay the test chain on the belt (True) or lift it off; returns the simulated time."""
        with self.lock:
            self._advance()
            self.chain_on = on
            return self.t

    def reset(self) -> None:
        """Zero the resettable totalizer."""
        with self.lock:
            self._advance()
            self.total = 0.0

    def totalized(self) -> float:
        """Resettable totalizer (kg)."""
        with self.lock:
            self._advance()
            return self.total

    def passed(self) -> float:
        """Material that passed the scale since the bench started (kg, true)."""
        with self.lock:
            self._advance()
            return self.true_passed

    def travel(self) -> float:
        """Belt travel since the bench started (m, true): what the lab's travel counter (a
        calibrated measuring wheel on the return belt) shows."""
        with self.lock:
            self._advance()
            return self.speed * self.t

    def feeding(self) -> bool:
        """Whether a batch is on the belt."""
        with self.lock:
            self._advance()
            return self.feed_rate > 0

    def readings(self) -> tuple[float, float, float, bool]:
        """(rate kg/s, speed m/s, belt load kg/m, over range) as the integrator shows now."""
        with self.lock:
            self._advance()
            material = self.feed_rate > 0
            zero = self.zero0 + self.zero_drift * self.t
            load = (self._load_true(material) + zero) * (1 + self.span)
            load += self.rng.gauss(0.0, self.noise_sd)
            speed = self.speed * (1 + self.speed_error)
            rate = load * speed
            return rate, speed, load, rate > self.max_rate


class FlueModel:
    """A flue duct: gas composition, velocity and conditions varying over time.

    CO2(t) = co2 + co2_swing·w(t), v(t) = velocity + velocity_swing·w'(t), with w, w' sums
    of three sinusoids of periods ``period``, period/2.7, period/7.3 and seeded phases,
    normalized to amplitude ≤ 1. The velocity at traverse point i is v(t)·f_i/mean(f).
    """

    def __init__(self, clock: SimClock, sim: dict[str, Any], seed: int) -> None:
        self.clock = clock
        rng = random.Random(seed)
        self.area = _m(sim["area"], "m**2")
        self.velocity = _m(sim["velocity"], "m/s")
        self.velocity_swing = _m(sim["velocity_swing"], "m/s")
        self.co2 = _m(sim["co2"], "percent")
        self.co2_swing = _m(sim["co2_swing"], "percent")
        self.o2 = _m(sim["o2"], "percent")
        self.temperature = _m(sim["temperature"], "degC")
        self.pressure = _m(sim["pressure"], "kPa")
        self.moisture = _m(sim["moisture"], "percent")
        self.period = _m(sim["period"], "s")
        factors = [_m(f, "") for f in sim["profile"]]
        mean = sum(factors) / len(factors)
        self.profile = [f / mean for f in factors]
        self.phases = [rng.uniform(0, 2 * math.pi) for _ in range(6)]

    def _wave(self, t: float, offset: int) -> float:
        parts = (1.0, 2.7, 7.3)
        weights = (0.6, 0.3, 0.1)
        return sum(
            w * math.sin(2 * math.pi * t * p / self.period + self.phases[offset + i])
            for i, (p, w) in enumerate(zip(parts, weights, strict=True))
        )

    def co2_at(self, t: float) -> float:
        """True CO2 volume fraction (%, dry) at simulated time ``t``."""
        return self.co2 + self.co2_swing * self._wave(t, 0)

    def o2_at(self, t: float) -> float:
        """True O2 (%, dry), falling as CO2 rises (combustion stoichiometry, roughly)."""
        return self.o2 - 1.1 * (self.co2_at(t) - self.co2)

    def velocity_at(self, t: float) -> float:
        """True mean velocity over the cross-section (m/s)."""
        return self.velocity + self.velocity_swing * self._wave(t, 3)

    def standard_dry_flow(self, t: float) -> float:
        """True dry standard flow (m³/h at 273.15 K, 101.325 kPa)."""
        actual = self.velocity_at(t) * self.area * 3600.0
        return (
            actual
            * STANDARD_TEMPERATURE_K
            / (self.temperature + 273.15)
            * self.pressure
            / STANDARD_PRESSURE_KPA
            * (1 - self.moisture / 100.0)
        )


class CemsAnalyzerModel:
    """The CEMS CO2 analyzer, sampling the flue through its probe.

    The gas reaching the cell is the flue gas, or the calibration gas of the portable
    dilutor while the probe's calibration valve is open and the dilutor flows. The cell
    follows it through a first-order lag (τ = t90/ln 10, integrated in steps of at most
    1 s). Indication = (1 + gain_error + span_drift·t)·c_cell + offset + zero_drift·t +
    noise, quantized to the resolution; O2 likewise without drift.
    """

    def __init__(
        self,
        clock: SimClock,
        sim: dict[str, Any],
        flue: FlueModel,
        supply: GasSupplyModel | None,
        seed: int,
    ) -> None:
        self.clock = clock
        self.lock = threading.Lock()
        self.rng = random.Random(seed)
        self.flue = flue
        self.supply = supply
        self.range = _m(sim["range"], "percent")
        self.gain = _m(sim["gain_error"], "")
        self.offset = _m(sim["offset"], "percent")
        self.zero_drift = _m(sim["zero_drift"], "percent/s")
        self.span_drift = _m(sim["span_drift"], "1/s")
        self.noise_sd = _m(sim["noise_sd"], "percent")
        self.tau = _m(sim["t90"], "s") / math.log(10)
        self.resolution = _m(sim["resolution"], "percent")
        self.valve: list[tuple[float, bool]] = [(0.0, False)]
        self.t = 0.0
        self.cell = flue.co2_at(0.0)
        self.cell_o2 = flue.o2_at(0.0)

    def set_valve(self, open_: bool) -> None:
        """Open or close the calibration valve at the probe."""
        with self.lock:
            self._advance(self.clock.now())
            self.valve.append((self.clock.now(), open_))

    def valve_open(self) -> bool:
        """Whether the calibration valve is open."""
        with self.lock:
            return self.valve[-1][1]

    def _input(self, t: float) -> tuple[float, float]:
        i = bisect.bisect_right([v[0] for v in self.valve], t) - 1
        if self.valve[max(i, 0)][1] and self.supply is not None:
            with self.supply.lock:
                history = list(self.supply.history)
            j = bisect.bisect_right([h[0] for h in history], t) - 1
            feed = history[max(j, 0)][1]
            if feed is not None:  # dilutor feeds are in µmol/mol
                return feed.get("CO2", 0.0) / 1e4, 0.0
        return self.flue.co2_at(t), self.flue.o2_at(t)

    def _advance(self, now: float) -> None:
        while self.t < now:
            step = min(1.0, now - self.t)
            c, o2 = self._input(self.t + step / 2)
            decay = math.exp(-step / self.tau)
            self.cell = c + (self.cell - c) * decay
            self.cell_o2 = o2 + (self.cell_o2 - o2) * decay
            self.t += step

    def readings(self) -> tuple[float, float]:
        """(CO2 %, O2 %) indicated now."""
        with self.lock:
            now = self.clock.now()
            self._advance(now)
            gain = 1 + self.gain + self.span_drift * now
            co2 = gain * self.cell + self.offset + self.zero_drift * now
            co2 += self.rng.gauss(0.0, self.noise_sd)
            o2 = self.cell_o2 + self.rng.gauss(0.0, self.noise_sd)
        q = self.resolution
        return round(co2 / q) * q, round(o2 / q) * q


class FlowMonitorModel:
    """A flue-gas flow monitor measuring the velocity at one point of the cross-section.

    Indicated mean velocity = v(t)·point_factor·velocity_field_coefficient·(1 + gain_error)
    + noise; the true mean velocity is v(t), so the monitor's flow error is
    point_factor·K·(1 + gain) − 1. Temperature, pressure and moisture are read with the
    given errors; flow = v·A·3600, standard dry flow from them.
    """

    def __init__(self, clock: SimClock, sim: dict[str, Any], flue: FlueModel, seed: int) -> None:
        self.clock = clock
        self.lock = threading.Lock()
        self.rng = random.Random(seed)
        self.flue = flue
        self.point_factor = _m(sim["point_factor"], "")
        self.k = _m(sim["velocity_field_coefficient"], "")
        self.gain = _m(sim["gain_error"], "")
        self.noise_sd = _m(sim["noise_sd"], "m/s")
        self.temperature_error = _m(sim["temperature_error"], "K")

    def readings(self) -> tuple[float, float, float, float, float, float]:
        """(velocity m/s, flow m³/h, standard dry flow m³/h, °C, kPa, moisture %)."""
        with self.lock:
            t = self.clock.now()
            f = self.flue
            v = f.velocity_at(t) * self.point_factor * self.k * (1 + self.gain)
            v += self.rng.gauss(0.0, self.noise_sd)
            temp = f.temperature + self.temperature_error
        flow = v * f.area * 3600.0
        std = (
            flow
            * STANDARD_TEMPERATURE_K
            / (temp + 273.15)
            * f.pressure
            / STANDARD_PRESSURE_KPA
            * (1 - f.moisture / 100.0)
        )
        return v, flow, std, temp, f.pressure, f.moisture


class StackProbeModel:
    """The reference-method probe: an S-type pitot moved along the traverse points.

    Velocity at point i = v(t)·f_i·(1 + coefficient_error) + noise; 0 when out of the duct.
    """

    def __init__(self, clock: SimClock, sim: dict[str, Any], flue: FlueModel, seed: int) -> None:
        self.clock = clock
        self.lock = threading.Lock()
        self.rng = random.Random(seed)
        self.flue = flue
        self.error = _m(sim["coefficient_error"], "")
        self.noise_sd = _m(sim["noise_sd"], "m/s")
        self.point = 0

    def move(self, point: int) -> None:
        """Move the probe to traverse point ``point`` (1-based; 0 = out of the duct)."""
        if not 0 <= point <= len(self.flue.profile):
            raise ValueError(f"traverse point {point} not in 0..{len(self.flue.profile)}")
        with self.lock:
            self.point = point

    def velocity(self) -> float:
        """Velocity at the probe now (m/s)."""
        with self.lock:
            if self.point == 0:
                return 0.0
            t = self.clock.now()
            v = self.flue.velocity_at(t) * self.flue.profile[self.point - 1] * (1 + self.error)
            return v + self.rng.gauss(0.0, self.noise_sd)
