"""Small fake instruments implementing the driver role protocols, for engine tests.

The gas analyzer answers a first-order step response towards ``gain * actual + offset``
of the cylinder selected on the fake dilutor, on the run's simulated clock.
"""

from __future__ import annotations

import math
import threading
import time
from typing import Any

from drivers.errors import InstrumentTimeout
from drivers.roles import InstrumentIdentity
from lims.units import ureg

UMOL = ureg("umol/mol").units


class Clock:
    """Simulated seconds: real seconds since creation times ``time_scale``."""

    def __init__(self, time_scale: float) -> None:
        self.time_scale = time_scale
        self.t0 = time.monotonic()

    def __call__(self) -> float:
        return (time.monotonic() - self.t0) * self.time_scale


class _Base:
    def __init__(self, name: str, serial: str) -> None:
        self.name = name
        self.serial = serial
        self.safe_calls = 0
        self.calls = 0
        self.fail_calls = 0  # the next n calls raise InstrumentTimeout
        self.lock = threading.Lock()

    def identify(self) -> InstrumentIdentity:
        return InstrumentIdentity("Fake Co", type(self).__name__, self.serial, "1.0")

    def safe_state(self) -> None:
        self.safe_calls += 1

    def close(self) -> None:
        pass

    def _io(self, command: str) -> None:
        with self.lock:
            self.calls += 1
            if self.fail_calls > 0:
                self.fail_calls -= 1
                raise InstrumentTimeout(self.name, command, 2.0)


class FakeDilutor(_Base):
    """Port selector: port → actual amount fraction (µmol/mol)."""

    def __init__(self, ports: dict[int, float], clock: Clock) -> None:
        super().__init__("dilutor", "GD-1")
        self.ports = ports
        self.clock = clock
        self.port = 1
        self.changed_at = 0.0
        self.previous = ports[1]
        self.flow = ureg.Quantity(0, "L/min")

    def select_port(self, port: int) -> None:
        self._io(f"PORT {port}")
        self.previous = self.ports[self.port]
        self.port = port
        self.changed_at = self.clock()

    def selected_port(self) -> int:
        return self.port

    def set_flow(self, flow: Any) -> None:
        self._io("FLOW")
        self.flow = flow

    def read_flow(self) -> Any:
        self._io("FLOW?")
        return self.flow

    def safe_state(self) -> None:
        super().safe_state()
        self.flow = ureg.Quantity(0, "L/min")


class FakeAnalyzer(_Base):
    """Indication = gain·c + offset with a first-order response of time constant ``tau_s``."""

    def __init__(
        self, dilutor: FakeDilutor, *, gain: float = 1.01, offset: float = 2.0, tau_s: float = 4.0
    ) -> None:
        super().__init__("analyzer", "CA-1")
        self.dilutor = dilutor
        self.gain = gain
        self.offset = offset
        self.tau_s = tau_s

    def read_concentration(self) -> Any:
        self._io("MEAS?")
        d = self.dilutor
        t = d.clock() - d.changed_at
        target = d.ports[d.port] if d.flow.magnitude > 0 else 0.0
        c = target + (d.previous - target) * math.exp(-t / self.tau_s)
        return ureg.Quantity(self.gain * c + self.offset, UMOL)


class FakeEnvironment(_Base):
    """Fixed laboratory conditions."""

    def __init__(self, temperature_c: float = 21.0, humidity: float = 45.0) -> None:
        super().__init__("env", "THP-1")
        self.temperature_c = temperature_c
        self.humidity = humidity

    def read_temperature(self) -> Any:
        self._io("T?")
        return ureg.Quantity(self.temperature_c, "degC")

    def read_humidity(self) -> Any:
        self._io("RH?")
        return ureg.Quantity(self.humidity, "percent")

    def read_pressure(self) -> Any:
        self._io("P?")
        return ureg.Quantity(101.3, "kPa")


PORTS = {1: 0.0, 2: 400.0, 3: 1000.0}


def bench(time_scale: float, **analyzer: Any) -> dict[str, Any]:
    """A fake gas bench: role slot → instrument."""
    clock = Clock(time_scale)
    dil = FakeDilutor(dict(PORTS), clock)
    return {"analyzer": FakeAnalyzer(dil, **analyzer), "dilutor": dil, "env": FakeEnvironment()}
