"""Fuel-laboratory instruments: MT-SICS balance, oxygen-bomb calorimeter, sulfur analyzers.

**SicsBalance** — balances and static scales speaking Mettler-Toledo's MT-SICS level 0/1
over RS-232 (9600 8N1, ``\\r\\n`` both ways)::

    I2   → I2 A "<manufacturer> <model> <capacity> <unit>"     type and capacity
    I3   → I3 A "<firmware>"                                  software version
    I4   → I4 A "<serial>"                                    serial number
    S    → S S <value> <unit>   stable weight  (S I: busy / not stable within the
                                 balance's time limit, S +: overload, S -: underload)
    SI   → S S|D <value> <unit> weight now (D: dynamic, not stable)
    Z    → Z A                  zero set (Z I: not possible now, Z +/Z -: out of range)
    T    → T S <value> <unit>   tared; the value is the tare weight
    ES / ET / EL                syntax / transmission / logical error

**SerialCalorimeter** — automatic isothermal oxygen-bomb calorimeter, vendor ASCII over
RS-232 (9600 8N1, ``\\r\\n``), one reply line per command::

    *ID?                      → ID,<manufacturer>,<model>,<serial>,<firmware>
    SMP <id>,<mass g>,<ign J> → OK      sample id, sample mass, ignition heat to allow for
    FIRE                      → OK      start: fore period, ignition, main, after period
    STAT?                     → STAT,IDLE|FORE|MAIN|AFTER|DONE|FAULT
    T?  / TJ?                 → T,<°C> / TJ,<°C>   inner vessel / jacket temperature
    EE?                       → EE,<J/K>           stored energy equivalent
    RES?                      → RES,<id>,<mass g>,<ign J>,<EE J/K>,<rise K>,<Q J/g>,
                                 <points>,<fire index>,<end index>
    CRV? <first>,<count>      → CRV,<first>,<n>,<t s>:<°C>;<t s>:<°C>;...  (n ≤ 20)
    ABOR                      → OK      abort the determination
    errors                    → ERR,<code>,<text>

**CoulometricSulfurAnalyzer** — coulometric-titration total-sulfur analyzer; after each
determination it sends a record on its RS-232 result port (9600 8N1, ``\\r\\n``)::

    ST;<run no>;<sample id>;<mass> mg;Q=<charge mC>;St=<sulfur %>

``OVR`` in place of St flags a result out of the calibrated range. ``ID?`` →
``ID;<manufacturer>;<model>;<serial>;<firmware>``; ``STBY`` (no reply). Records that
arrive while a command waits for its reply are kept for :meth:`read_result`.

**ModbusSulfurAnalyzer** — infrared total-sulfur analyzer, Modbus TCP (unit 1), the
common identity block in holding 256–287 (see :mod:`drivers.instruments.modbus`)::

    input 0–1   result counter, uint32 (increments when a determination finishes)
    input 2–3   sulfur of the last result, float32, percent
    input 4–5   sample mass of the last result, float32, mg
    input 6–7   integrated IR absorbance of the last result, float32, counts
    input 8     status: bit 0 analyzing, bit 1 last result over range
    input 10–17 sample id of the last result, ASCII, 16 characters
    holding 100 command: 0 = standby
"""

from __future__ import annotations

import collections
import re
import time
from typing import Any

from drivers.errors import InstrumentOverrange, InstrumentProtocolError, InstrumentTimeout
from drivers.instruments.base import (
    check_unit,
    parse_float,
    quantity,
    regs_to_float32,
    regs_to_text,
    regs_to_uint32,
)
from drivers.instruments.modbus import CONTROL_ADDRESS, _ModbusInstrument
from drivers.roles import CalorimeterResult, InstrumentIdentity, SulfurResult
from drivers.transport import LineTransport, SerialTransport

__all__ = [
    "CoulometricSulfurAnalyzer",
    "ModbusSulfurAnalyzer",
    "SerialCalorimeter",
    "SicsBalance",
    "parse_sulfur_record",
]


class _SerialInstrument:
    default_timeout_s = 2.0
    baudrate = 9600
    flush_before_query = True

    def __init__(self, transport: LineTransport, *, name: str) -> None:
        self.name = name
        self.transport = transport

    @classmethod
    def open(cls, name: str, address: str, timeout_s: float | None = None) -> Any:
        """Open the serial port (a device path or pyserial URL)."""
        transport = SerialTransport(
            address,
            instrument=name,
            timeout_s=timeout_s or cls.default_timeout_s,
            baudrate=cls.baudrate,
            read_termination="\r\n",
            write_termination="\r\n",
            flush_before_query=cls.flush_before_query,
        )
        return cls(transport, name=name)

    def _fail(self, command: str, line: str, reason: str) -> InstrumentProtocolError:
        return InstrumentProtocolError(self.name, command, line.encode(), reason)

    def close(self) -> None:
        """Close the port."""
        self.transport.close()


# --- MT-SICS balance ------------------------------------------------------------------

_SICS_WEIGHT = re.compile(r"^S ([SD]) +(-?\d+(?:\.\d+)?) +(\S+)$")
_SICS_TEXT = re.compile(r'^I(\d) A "(.*)"$')
_SICS_UNITS = {"g": "g", "mg": "mg", "kg": "kg", "t": "t"}


class SicsBalance(_SerialInstrument):
    """A balance or static scale speaking MT-SICS (role :class:`~drivers.roles.Balance`)."""

    def _text(self, command: str) -> str:
        line = self.transport.query(command)
        m = _SICS_TEXT.match(line)
        if m is None or m[1] != command[1:]:
            raise self._fail(command, line, f"expected '{command} A \"...\"'")
        return m[2].strip()

    def identify(self) -> InstrumentIdentity:
        """``I2`` (manufacturer, model), ``I3`` (firmware), ``I4`` (serial)."""
        words = self._text("I2").split()
        if len(words) < 4:
            raise self._fail("I2", " ".join(words), "expected manufacturer model capacity unit")
        return InstrumentIdentity(
            words[0], " ".join(words[1:-2]), self._text("I4"), self._text("I3")
        )

    def _weight(self, command: str) -> Any:
        line = self.transport.query(command)
        if line in ("S +", "S -"):
            raise InstrumentOverrange(self.name, command, line.encode())
        if line == "S I":
            raise InstrumentTimeout(self.name, command, self.transport.timeout_s)
        m = _SICS_WEIGHT.match(line)
        if m is None or (command == "S" and m[1] != "S"):
            raise self._fail(command, line, "not a weight reply")
        unit = _SICS_UNITS.get(m[3])
        if unit is None:
            raise self._fail(command, line, f"unknown unit {m[3]!r}")
        return quantity(parse_float(self.name, command, m[2]), unit)

    def read_mass(self) -> Any:
        """``S``: a stable weight (``S I`` — not stable in time — raises InstrumentTimeout)."""
        return self._weight("S")

    def read_mass_immediately(self) -> Any:
        """``SI``: the weight now, stable or not."""
        return self._weight("SI")

    def _action(self, command: str, ok: str) -> None:
        line = self.transport.query(command)
        if line.startswith(ok):
            return
        if line in (f"{command} +", f"{command} -"):
            raise InstrumentOverrange(self.name, command, line.encode())
        raise self._fail(command, line, f"expected {ok!r}")

    def zero(self) -> None:
        """``Z``: set the zero."""
        self._action("Z", "Z A")

    def tare(self) -> None:
        """``T``: tare the present load."""
        self._action("T", "T S")

    def safe_state(self) -> None:
        """A balance has nothing to switch off."""


# --- oxygen-bomb calorimeter ------------------------------------------------------------

CALORIMETER_STATES = ("idle", "fore", "main", "after", "done", "fault")
_CURVE_CHUNK = 20


class SerialCalorimeter(_SerialInstrument):
    """Automatic oxygen-bomb calorimeter on RS-232 (role BombCalorimeter); see module doc."""

    def _reply(self, command: str, prefix: str) -> list[str]:
        line = self.transport.query(command)
        if line.startswith("ERR,"):
            raise self._fail(command, line, "instrument reports an error")
        fields = line.split(",")
        if fields[0] != prefix:
            raise self._fail(command, line, f"expected {prefix!r}")
        return fields[1:]

    def _number(self, command: str, text: str) -> float:
        return parse_float(self.name, command, text)

    def identify(self) -> InstrumentIdentity:
        """``*ID?``."""
        fields = self._reply("*ID?", "ID")
        if len(fields) != 4 or not all(fields[:2]):
            raise self._fail("*ID?", ",".join(["ID", *fields]), "expected 4 fields")
        return InstrumentIdentity(*fields)

    def load_sample(self, sample_id: str, mass: Any, ignition_heat: Any) -> None:
        """``SMP <id>,<mass g>,<ignition J>``."""
        if not sample_id or any(c in sample_id for c in ",;\r\n"):
            raise ValueError(f"sample id {sample_id!r}: no commas or line breaks")
        grams = check_unit(mass, "g", "sample mass")
        joules = check_unit(ignition_heat, "J", "ignition heat")
        if grams <= 0 or joules < 0:
            raise ValueError(f"sample mass {mass} and ignition heat {ignition_heat} out of range")
        self._reply(f"SMP {sample_id},{grams:.5f},{joules:.2f}", "OK")

    def fire(self) -> None:
        """``FIRE``."""
        self._reply("FIRE", "OK")

    def state(self) -> str:
        """``STAT?`` → one of :data:`CALORIMETER_STATES`."""
        fields = self._reply("STAT?", "STAT")
        state = fields[0].lower() if len(fields) == 1 else ""
        if state not in CALORIMETER_STATES:
            raise self._fail("STAT?", ",".join(["STAT", *fields]), "unknown state")
        return state

    def _temperature(self, command: str, prefix: str) -> Any:
        fields = self._reply(command, prefix)
        if len(fields) != 1:
            raise self._fail(command, ",".join([prefix, *fields]), "expected one value")
        return quantity(self._number(command, fields[0]), "degC")

    def read_temperature(self) -> Any:
        """``T?``: inner-vessel temperature (°C)."""
        return self._temperature("T?", "T")

    def read_jacket_temperature(self) -> Any:
        """``TJ?``: jacket temperature (°C)."""
        return self._temperature("TJ?", "TJ")

    def energy_equivalent(self) -> Any:
        """``EE?``: stored energy equivalent (J/K)."""
        fields = self._reply("EE?", "EE")
        return quantity(self._number("EE?", fields[0]), "J/K")

    def read_result(self) -> CalorimeterResult:
        """``RES?`` and the curve in chunks of ``CRV?``."""
        command = "RES?"
        f = self._reply(command, "RES")
        if len(f) != 9:
            raise self._fail(command, ",".join(["RES", *f]), "expected 9 fields")
        try:
            points, fire, end = int(f[6]), int(f[7]), int(f[8])
        except ValueError:
            raise self._fail(command, ",".join(["RES", *f]), "bad curve indices") from None
        if not 0 <= fire < end < points:
            raise self._fail(command, ",".join(["RES", *f]), "inconsistent curve indices")
        curve: list[tuple[Any, Any]] = []
        while len(curve) < points:
            count = min(_CURVE_CHUNK, points - len(curve))
            curve += self._curve_chunk(len(curve), count)
        return CalorimeterResult(
            sample_id=f[0],
            mass=quantity(self._number(command, f[1]), "g"),
            ignition_heat=quantity(self._number(command, f[2]), "J"),
            energy_equivalent=quantity(self._number(command, f[3]), "J/K"),
            corrected_rise=quantity(self._number(command, f[4]), "K"),
            gross_calorific_value=quantity(self._number(command, f[5]), "J/g"),
            curve=tuple(curve),
            fire_index=fire,
            end_index=end,
        )

    def _curve_chunk(self, first: int, count: int) -> list[tuple[Any, Any]]:
        command = f"CRV? {first},{count}"
        fields = self._reply(command, "CRV")
        if len(fields) != 3 or fields[0] != str(first) or fields[1] != str(count):
            raise self._fail(command, ",".join(["CRV", *fields]), "wrong chunk")
        pairs = fields[2].split(";")
        if len(pairs) != count:
            raise self._fail(command, ",".join(["CRV", *fields]), "wrong number of points")
        out = []
        for pair in pairs:
            t, sep, temp = pair.partition(":")
            if not sep:
                raise self._fail(command, pair, "expected <s>:<°C>")
            out.append(
                (
                    quantity(self._number(command, t), "s"),
                    quantity(self._number(command, temp), "degC"),
                )
            )
        return out

    def safe_state(self) -> None:
        """``ABOR``: abort any determination."""
        self._reply("ABOR", "OK")


# --- sulfur analyzers ---------------------------------------------------------------------

_MASS_RE = re.compile(r"^(\d+\.?\d*)\s*mg$")


def parse_sulfur_record(instrument: str, command: str, line: str) -> SulfurResult:
    """Parse one ``ST;...`` record of the coulometric analyzer."""
    raw = line.encode()
    fields = line.split(";")
    if len(fields) != 6 or fields[0] != "ST" or not fields[2]:
        raise InstrumentProtocolError(instrument, command, raw, "not a sulfur record")
    mass = _MASS_RE.match(fields[3].strip())
    if mass is None:
        raise InstrumentProtocolError(instrument, command, raw, "bad sample mass")
    key_q, _, charge = fields[4].partition("=")
    key_s, _, sulfur = fields[5].partition("=")
    if key_q != "Q" or key_s != "St":
        raise InstrumentProtocolError(instrument, command, raw, "expected Q= and St=")
    if sulfur == "OVR":
        raise InstrumentOverrange(instrument, command, raw)
    try:
        q, s = float(charge), float(sulfur)
    except ValueError:
        raise InstrumentProtocolError(instrument, command, raw, "bad number") from None
    if not 0.0 <= s <= 100.0:
        raise InstrumentOverrange(instrument, command, raw)
    return SulfurResult(
        fields[2], quantity(float(mass[1]), "mg"), quantity(s, "percent"), quantity(q, "mC")
    )


class CoulometricSulfurAnalyzer(_SerialInstrument):
    """Coulometric total-sulfur analyzer's result port (role SulfurAnalyzer); see module doc."""

    flush_before_query = False

    def __init__(self, transport: LineTransport, *, name: str) -> None:
        super().__init__(transport, name=name)
        self._pending: collections.deque[str] = collections.deque()

    def _reply(self, command: str, prefix: str) -> str:
        line = self.transport.query(command)
        while line.startswith("ST;"):
            self._pending.append(line)
            line = self.transport.read_line(command)
        if not line.startswith(prefix):
            raise self._fail(command, line, f"expected {prefix!r}")
        return line

    def identify(self) -> InstrumentIdentity:
        """``ID?``."""
        line = self._reply("ID?", "ID;")
        parts = line.split(";")
        if len(parts) != 5:
            raise self._fail("ID?", line, "expected 5 fields")
        return InstrumentIdentity(*parts[1:])

    def read_result(self, timeout_s: float | None = None) -> SulfurResult:
        """The next result record, waiting up to ``timeout_s`` for one."""
        command = "<result record>"
        line = self._pending.popleft() if self._pending else None
        if line is None:
            line = self.transport.read_line(command, timeout_s)
        return parse_sulfur_record(self.name, command, line)

    def safe_state(self) -> None:
        """``STBY``."""
        self.transport.write("STBY")


class ModbusSulfurAnalyzer(_ModbusInstrument):
    """Infrared total-sulfur analyzer on Modbus TCP (role SulfurAnalyzer); see module doc."""

    poll_interval_s = 0.05

    def __init__(self, transport: Any, *, name: str) -> None:
        super().__init__(transport, name=name)
        self._seen: int | None = None

    def _counter(self, what: str) -> int:
        return regs_to_uint32(self.transport.read_registers(0, 2, what, inputs=True))

    def identify(self) -> InstrumentIdentity:
        """The identity block; also takes the result counter as the point of reference."""
        ident = super().identify()
        self._seen = self._counter("result counter (input 0-1)")
        return ident

    def read_result(self, timeout_s: float | None = None) -> SulfurResult:
        """Poll until the result counter passes the last result seen, then read it.

        Results finished before the driver first identified the instrument are not
        reported.
        """
        what = "<result>"
        wait = self.transport.timeout_s if timeout_s is None else timeout_s
        deadline = time.monotonic() + wait
        if self._seen is None:
            self._seen = self._counter("result counter (input 0-1)")
        while True:
            regs = self.transport.read_registers(0, 18, "result (input 0-17)", inputs=True)
            counter = regs_to_uint32(regs[0:2])
            if counter != self._seen:
                break
            if time.monotonic() >= deadline:
                raise InstrumentTimeout(self.name, what, wait)
            time.sleep(self.poll_interval_s)
        self._seen = counter
        raw = b"".join(r.to_bytes(2, "big") for r in regs)
        if regs[8] & 0x2:
            raise InstrumentOverrange(self.name, what, raw)
        sulfur = regs_to_float32(regs[2:4])
        mass = regs_to_float32(regs[4:6])
        if not (0.0 <= sulfur <= 100.0 and mass > 0):
            raise InstrumentProtocolError(self.name, what, raw, "sulfur or mass out of range")
        return SulfurResult(
            regs_to_text(regs[10:18]),
            quantity(mass, "mg"),
            quantity(sulfur, "percent"),
            quantity(regs_to_float32(regs[6:8]), "count"),
        )

    def safe_state(self) -> None:
        """Standby (holding 100 = 0)."""
        self.transport.write_registers(CONTROL_ADDRESS, [0], "standby (holding 100 = 0)")
