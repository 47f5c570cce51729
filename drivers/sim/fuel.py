"""Physics of the simulated fuel-laboratory instruments: a weighing pan read by a balance,
an isothermal oxygen-bomb calorimeter, a coal total-sulfur analyzer.

Every model reads simulated time from the bench's one :class:`~drivers.sim.physics.SimClock`
and draws randomness from its own seeded :class:`random.Random`.
"""

from __future__ import annotations

import math
import random
import threading
from dataclasses import dataclass
from typing import Any

from drivers.sim.clock import Clock as SimClock

__all__ = [
    "FARADAY",
    "SULFUR_MOLAR_MASS",
    "CalorimeterModel",
    "SulfurModel",
    "WeighingModel",
    "regnault_pfaundler_rise",
]

FARADAY = 96485.33212  # C/mol (CODATA 2018)
SULFUR_MOLAR_MASS = 32.06  # g/mol (IUPAC conventional)


def _m(q: Any, unit: str) -> float:
    return float(q.to(unit).magnitude)


class WeighingModel:
    """What lies on a balance's pan and how the balance indicates it.

    Indication = true load × (1 + gain_error) + offset − zero reference − tare, plus
    Gaussian noise, rounded to the scale interval ``resolution``; above ``capacity`` the
    balance reports overload.
    """

    def __init__(self, clock: SimClock, sim: dict[str, Any], seed: int) -> None:
        self.clock = clock
        self.lock = threading.Lock()
        self.rng = random.Random(seed)
        self.unit = str(sim["unit"])
        self.capacity = _m(sim["capacity"], self.unit)
        self.resolution = _m(sim["resolution"], self.unit)
        self.gain = _m(sim["gain_error"], "")
        self.offset = _m(sim["offset"], self.unit)
        self.noise_sd = _m(sim["noise_sd"], self.unit)
        self.load = 0.0  # true load on the pan, in ``unit``
        self.zero_ref = 0.0
        self.tare_value = 0.0

    def place(self, mass: float) -> None:
        """Put ``mass`` (in the balance's unit) on the pan, replacing what was there."""
        with self.lock:
            self.load = max(mass, 0.0)

    def _raw(self) -> float:
        return self.load * (1 + self.gain) + self.offset

    def over(self) -> bool:
        """Whether the load exceeds the capacity."""
        return self.load > self.capacity

    def indication(self) -> float:
        """Net indication now, rounded to the scale interval."""
        with self.lock:
            value = self._raw() - self.zero_ref - self.tare_value
            value += self.rng.gauss(0.0, self.noise_sd)
        return round(value / self.resolution) * self.resolution

    def set_zero(self) -> bool:
        """Zero the balance; False when the load is more than 4 % of capacity."""
        with self.lock:
            if abs(self._raw() - self.zero_ref) > 0.04 * self.capacity + self.zero_ref:
                return False
            self.zero_ref = self._raw()
            self.tare_value = 0.0
            return True

    def set_tare(self) -> float:
        """Tare the present load; returns the tare weight."""
        with self.lock:
            self.tare_value = self._raw() - self.zero_ref
            return self.tare_value


def regnault_pfaundler_rise(
    temps: list[float], fire: int, end: int, interval_s: float
) -> tuple[float, float]:
    """(corrected temperature rise, cooling correction) of an isothermal determination.

    ``temps`` are readings every ``interval_s``; ``fire`` indexes the reading at ignition
    (end of the fore period), ``end`` the end of the main period. The fore and after
    periods give the cooling rates V0, Vn (temperature fall per interval) at their mean
    temperatures θ0, θn; the cooling correction is
    C = n·V0 + (Vn − V0)/(θn − θ0)·(Σ t_i + (t0 + tn)/2 − n·θ0), the sum over the main
    period's inner readings, n its number of intervals; the corrected rise is tn − t0 + C.
    """
    fore = temps[: fire + 1]
    after = temps[end:]
    v0 = (fore[0] - fore[-1]) / (len(fore) - 1)
    vn = (after[0] - after[-1]) / (len(after) - 1)
    theta0 = sum(fore) / len(fore)
    thetan = sum(after) / len(after)
    t0, tn = temps[fire], temps[end]
    n = end - fire
    inner = sum(temps[fire + 1 : end])
    slope = (vn - v0) / (thetan - theta0) if thetan != theta0 else 0.0
    correction = n * v0 + slope * (inner + (t0 + tn) / 2 - n * theta0)
    del interval_s  # per-interval rates: the interval cancels
    return tn - t0 + correction, correction


@dataclass
class _Determination:
    sample_id: str
    entered_mass: float  # g
    entered_ignition: float  # J
    start: float  # simulated s: start of the fore period
    temps: list[float]  # thermometer readings
    true_heat: float  # J released in the bomb
    rise: float = 0.0
    calorific_value: float = 0.0


class CalorimeterModel:
    """An isothermal oxygen-bomb calorimeter.

    The inner vessel (energy equivalent E) exchanges heat with the jacket by Newton's law
    and is warmed by the stirrer: dT/dt = k·(T_j − T) + P_stir/E + P_c(t)/E, with the
    combustion power P_c(s) = (Q/τ)·e^(−s/τ) after ignition (s = time since ignition).
    Q = m·q_sample·(1 + ε) + q_ignition + f_acid·m·q_sample, ε ~ N(0, combustion_sd) per
    burn. Solved exactly; the thermometer reads T·(1 + thermometer_gain) + noise,
    rounded to its resolution. The instrument computes the corrected rise by
    Regnault–Pfaundler and the gross calorific value (E_stored·Δt − q_ign)/(m·(1+f_acid))
    with its stored energy equivalent.
    """

    def __init__(self, clock: SimClock, sim: dict[str, Any], pan: WeighingModel, seed: int):
        self.clock = clock
        self.lock = threading.Lock()
        self.rng = random.Random(seed)
        self.pan = pan
        self.e_true = _m(sim["energy_equivalent"], "J/K")
        self.e_stored = _m(sim["stored_energy_equivalent"], "J/K")
        self.k = _m(sim["cooling_constant"], "1/s")
        self.jacket = _m(sim["jacket_temperature"], "degC")
        self.start_temp = _m(sim["start_temperature"], "degC")
        self.stir = _m(sim["stirring_power"], "W")
        self.tau = _m(sim["combustion_time_constant"], "s")
        self.gain = _m(sim["thermometer_gain"], "")
        self.noise = _m(sim["thermometer_noise"], "K")
        self.resolution = _m(sim["resolution"], "K")
        self.ignition = _m(sim["ignition_energy"], "J")
        self.acid = _m(sim["acid_fraction"], "")
        self.combustion_sd = _m(sim["combustion_sd"], "")
        self.fore = _m(sim["fore_period"], "s")
        self.main = _m(sim["main_period"], "s")
        self.after = _m(sim["after_period"], "s")
        self.interval = _m(sim["reading_interval"], "s")
        self.substances = {n: _m(q, "J/g") for n, q in sim["substances"].items()}
        self.t_inf = self.jacket + self.stir / (self.k * self.e_true)
        # inner-vessel state: temperature T_ref at time t_ref, no combustion pending
        self.t_ref = 0.0
        self.temp_ref = self.start_temp
        self.pellet: tuple[str, float] | None = None  # substance, true mass g
        self.pending: tuple[str, float, float] | None = None  # entered id, mass, ignition
        self.current: _Determination | None = None
        self.last: _Determination | None = None
        self.fire_time: float | None = None
        self.heat = 0.0

    # --- physics -----------------------------------------------------------------

    def _true_temp(self, t: float) -> float:
        """Inner-vessel temperature at simulated time ``t`` (≥ t_ref)."""
        s0 = t - self.t_ref
        base = self.t_inf + (self.temp_ref - self.t_inf) * math.exp(-self.k * s0)
        if self.fire_time is None or t <= self.fire_time:
            return base
        s = t - self.fire_time
        a = self.heat / (self.e_true * (self.k * self.tau - 1))
        return base + a * (math.exp(-s / self.tau) - math.exp(-self.k * s))

    def _thermometer(self, true: float) -> float:
        value = true * (1 + self.gain) + self.rng.gauss(0.0, self.noise)
        return round(value / self.resolution) * self.resolution

    def load_pellet(self, substance: str, mass_g: float) -> None:
        """Press a pellet of ``substance`` of true mass ``mass_g``: it lies on the balance's pan
        (to be weighed) and goes into the bomb; the inner vessel is refilled with water."""
        if substance not in self.substances:
            known = ", ".join(self.substances)
            raise KeyError(f"unknown substance {substance!r} (known: {known})")
        if not mass_g > 0:
            raise ValueError(f"pellet mass must be positive, got {mass_g}")
        with self.lock:
            if self.current is not None and self._state_locked() not in ("done", "idle"):
                raise ValueError("a determination is running")
            self.pellet = (substance, mass_g)
            self.pan.place(mass_g if self.pan.unit == "g" else mass_g / 1000.0)
            self.t_ref = self.clock.now()
            self.temp_ref = self.start_temp
            self.fire_time = None
            self.heat = 0.0
            self.current = None

    # --- instrument ---------------------------------------------------------------

    def set_sample(self, sample_id: str, mass_g: float, ignition_j: float) -> str | None:
        """``SMP``; returns an error text or None."""
        with self.lock:
            if self.current is not None and self._state_locked() not in ("done", "idle"):
                return "busy"
            if mass_g <= 0 or not sample_id:
                return "bad sample"
            self.pending = (sample_id, mass_g, ignition_j)
            return None

    def start(self) -> str | None:
        """``FIRE``; returns an error text or None."""
        with self.lock:
            if self.pending is None or self.pellet is None:
                return "no sample"
            if self.current is not None and self._state_locked() not in ("done", "idle"):
                return "busy"
            substance, mass = self.pellet
            now = self.clock.now()
            eps = self.rng.gauss(0.0, self.combustion_sd)
            q = mass * self.substances[substance]
            heat = q * (1 + eps) + self.ignition + self.acid * q
            sample_id, m_entered, ign_entered = self.pending
            self.current = _Determination(sample_id, m_entered, ign_entered, now, [], heat)
            self.pellet = None
            self.pending = None
            return None

    def _state_locked(self) -> str:
        det = self.current
        if det is None:
            return "done" if self.last is not None else "idle"
        s = self.clock.now() - det.start
        if s < self.fore:
            return "fore"
        if self.fire_time is None:
            self.fire_time = det.start + self.fore
            self.heat = det.true_heat
        if s < self.fore + self.main:
            return "main"
        if s < self.fore + self.main + self.after:
            return "after"
        self._finish(det)
        return "done"

    def state(self) -> str:
        """The determination's phase now."""
        with self.lock:
            return self._state_locked()

    def _finish(self, det: _Determination) -> None:
        n = round((self.fore + self.main + self.after) / self.interval)
        det.temps = [
            self._thermometer(self._true_temp(det.start + i * self.interval)) for i in range(n + 1)
        ]
        fire, end = self.indices()
        det.rise, _ = regnault_pfaundler_rise(det.temps, fire, end, self.interval)
        det.calorific_value = (self.e_stored * det.rise - det.entered_ignition) / (
            det.entered_mass * (1 + self.acid)
        )
        self.last = det
        self.current = None

    def indices(self) -> tuple[int, int]:
        """(fire index, end-of-main-period index) of the logged curve."""
        return round(self.fore / self.interval), round((self.fore + self.main) / self.interval)

    def temperature(self) -> float:
        """Thermometer reading of the inner vessel now."""
        with self.lock:
            self._state_locked()
            return self._thermometer(self._true_temp(self.clock.now()))

    def jacket_temperature(self) -> float:
        """Thermometer reading of the jacket."""
        with self.lock:
            return self._thermometer(self.jacket)

    def result(self) -> _Determination | None:
        """The last finished determination."""
        with self.lock:
            self._state_locked()
            return self.last

    def abort(self) -> None:
        """Abort a running determination."""
        with self.lock:
            self.current = None
            self.pending = None


class SulfurModel:
    """A coal total-sulfur analyzer: a sample started now yields a result ``run_time`` later.

    Coulometric: the titration charge is Q = m·w·recovery·2F/M(S) (plus a blank charge),
    times (1 + ε), ε ~ N(0, noise_sd); the instrument reports
    St = calibration_factor·Q·M(S)/(2F·m). Infrared: St = (1 + gain_error)·w +
    nonlinearity·w²/10 % + offset, times (1 + ε). ``w`` is the sample's true sulfur.
    """

    def __init__(self, clock: SimClock, sim: dict[str, Any], seed: int) -> None:
        self.clock = clock
        self.lock = threading.Lock()
        self.rng = random.Random(seed)
        self.kind = str(sim["kind"])
        self.recovery = _m(sim["recovery"], "")
        self.factor = _m(sim["calibration_factor"], "")
        self.blank = _m(sim["blank"], "C")
        self.gain = _m(sim["gain_error"], "")
        self.nonlinearity = _m(sim["nonlinearity"], "")
        self.offset = _m(sim["offset"], "percent")
        self.noise_sd = _m(sim["noise_sd"], "")
        self.run_time = _m(sim["run_time"], "s")
        self.samples = {n: _m(q, "percent") for n, q in sim["samples"].items()}
        self.queue: list[tuple[float, dict[str, Any]]] = []
        self.run_no = 0
        self.completed = 0
        self.last: dict[str, Any] | None = None

    def analyze(self, sample_id: str, sample: str, mass_mg: float, overrange: bool) -> float:
        """Start a determination; returns the simulated time its result is ready."""
        if sample not in self.samples:
            known = ", ".join(self.samples)
            raise KeyError(f"unknown sample {sample!r} (known: {known})")
        if not sample_id or any(c in sample_id for c in ";\r\n") or len(sample_id) > 16:
            raise ValueError(f"bad sample id {sample_id!r}")
        if not mass_mg > 0:
            raise ValueError(f"sample mass must be positive, got {mass_mg}")
        w = self.samples[sample]
        with self.lock:
            self.run_no += 1
            eps = self.rng.gauss(0.0, self.noise_sd)
            per_coulomb = SULFUR_MOLAR_MASS / (2 * FARADAY) * 1000.0  # mg of S per C
            if self.kind == "coulometric":
                charge = (mass_mg * w / 100.0 * self.recovery / per_coulomb + self.blank) * (
                    1 + eps
                )
                sulfur = self.factor * charge * per_coulomb / mass_mg * 100.0
                raw = charge * 1000.0  # mC
            else:
                sulfur = ((1 + self.gain) * w + self.nonlinearity * w * w / 10.0 + self.offset) * (
                    1 + eps
                )
                raw = sulfur * mass_mg * 100.0  # integrated absorbance counts
            record = {
                "run": self.run_no,
                "sample_id": sample_id,
                "mass": mass_mg,
                "sulfur": max(sulfur, 0.0),
                "raw": raw,
                "over": overrange,
            }
            now = self.clock.now()
            due = max(
                (self.queue[-1][0] if self.queue else now) + self.run_time, now + self.run_time
            )
            self.queue.append((due, record))
            return due

    def due(self) -> list[dict[str, Any]]:
        """Results whose determination has finished (removed from the queue)."""
        with self.lock:
            now = self.clock.now()
            ready = [r for t, r in self.queue if t <= now]
            self.queue = [(t, r) for t, r in self.queue if t > now]
            if ready:
                self.completed += len(ready)
                self.last = ready[-1]
            return ready

    def analyzing(self) -> bool:
        """Whether a determination is in progress."""
        with self.lock:
            return bool(self.queue)
