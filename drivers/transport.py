"""Transports: the byte pipes drivers talk through.

* :class:`VisaTransport` — pyvisa (``@py`` = pyvisa-py: TCPIP SOCKET/INSTR, ASRL; ``path@sim``
  = pyvisa-sim YAML fixtures for protocol tests);
* :class:`SerialTransport` — raw serial through pyserial (device paths, ``socket://``,
  ``loop://`` URLs);
* :class:`ModbusTransport` — Modbus TCP or RTU through pymodbus' synchronous clients;
* :class:`ScriptedTransport` / :class:`ScriptedRegisters` — scripted stand-ins that assert
  every command/reply pair, for protocol tests.

Every transport holds one lock per connection for a whole query (write and read), maps
timeouts to :class:`~drivers.errors.InstrumentTimeout` naming the command, and after any
failure drops the connection so that the next call reconnects (recovery after the
instrument comes back, and no stale bytes from a late reply).
"""

from __future__ import annotations

import contextlib
import socket
import termios
import threading
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import pyvisa
import serial
from pymodbus.client import ModbusSerialClient, ModbusTcpClient
from pymodbus.exceptions import ConnectionException, ModbusException, ModbusIOException

from drivers.errors import (
    InstrumentConnectionError,
    InstrumentError,
    InstrumentProtocolError,
    InstrumentTimeout,
)

_SERIAL_ERRORS = (serial.SerialException, OSError, termios.error)

__all__ = [
    "LineTransport",
    "ModbusTransport",
    "RegisterTransport",
    "ScriptedRegisters",
    "ScriptedTransport",
    "SerialTransport",
    "VisaTransport",
]


class LineTransport(Protocol):
    """A text-line transport (SCPI and ASCII protocols)."""

    instrument: str
    timeout_s: float

    def query(self, command: str) -> str:
        """Send ``command`` and return one reply line without its terminator."""
        ...

    def write(self, command: str) -> None:
        """Send ``command``; no reply is expected."""
        ...

    def read_line(self, command: str, timeout_s: float | None = None) -> str:
        """Read one line the instrument sends on its own (``command`` names the wait)."""
        ...

    def close(self) -> None:
        """Close the connection."""
        ...


class RegisterTransport(Protocol):
    """A Modbus-style register transport."""

    instrument: str
    timeout_s: float

    def read_registers(
        self, address: int, count: int, what: str, *, inputs: bool = False
    ) -> list[int]:
        """Read ``count`` holding (or, with ``inputs``, input) registers; ``what`` names them."""
        ...

    def write_registers(self, address: int, values: Sequence[int], what: str) -> None:
        """Write holding registers starting at ``address``."""
        ...

    def close(self) -> None:
        """Close the connection."""
        ...


def _decode(instrument: str, command: str, raw: bytes, term: bytes) -> str:
    body = raw[: -len(term)] if term and raw.endswith(term) else raw
    try:
        return body.decode("ascii").strip()
    except UnicodeDecodeError as exc:
        raise InstrumentProtocolError(instrument, command, raw, "not ASCII text") from exc


def _peer_closed(res: Any) -> bool:
    """Whether the TCP peer of a pyvisa-py socket session has closed the connection.

    pyvisa-py reports a closed TCPIP SOCKET connection as a timeout; this looks at the
    session's socket (pyvisa-py internals, best effort: False when not available).
    """
    try:
        sock = res.visalib.sessions[res.session].interface
    except (AttributeError, KeyError, TypeError):
        return False
    if not isinstance(sock, socket.socket):
        return False
    try:
        return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


class VisaTransport:
    """A pyvisa message-based resource (``TCPIP::host::port::SOCKET``, ``ASRL/dev/x::INSTR``)."""

    def __init__(
        self,
        resource: str,
        *,
        instrument: str,
        timeout_s: float,
        read_termination: str = "\n",
        write_termination: str = "\n",
        backend: str = "@py",
    ) -> None:
        self.resource = resource
        self.instrument = instrument
        self.timeout_s = timeout_s
        self.read_termination = read_termination
        self.write_termination = write_termination
        self._read_term = read_termination.encode()
        self._backend = backend
        self._asrl = resource.upper().startswith("ASRL")
        self._rm: Any = None
        self._res: Any = None
        self._lock = threading.Lock()

    def _connect(self, command: str) -> Any:
        if self._res is None:
            try:
                if self._rm is None:
                    self._rm = pyvisa.ResourceManager(self._backend)
                self._res = self._rm.open_resource(
                    self.resource,
                    read_termination=self.read_termination,
                    write_termination=self.write_termination,
                    timeout=max(1, round(self.timeout_s * 1000)),
                )
                self._discard_input(self._res)
            except (pyvisa.Error, OSError, ValueError) as exc:
                self._res = None
                raise InstrumentConnectionError(
                    self.instrument, f"cannot open {self.resource}: {exc}", command
                ) from exc
        return self._res

    def _discard_input(self, res: Any) -> None:
        """On a serial (ASRL) resource, throw away bytes received but not yet read.

        A reply that arrives after its query timed out must not answer the next query:
        a serial line has no connection to drop, so the stale line would shift every
        later reply by one. (pyvisa-py's serial session honours ``discard_read_buffer``
        only, not the ``..._no_io`` variant; pyvisa-sim has no flush.)
        """
        if self._asrl:
            with contextlib.suppress(NotImplementedError):
                res.flush(pyvisa.constants.BufferOperation.discard_read_buffer)

    def _drop(self) -> None:
        res, self._res = self._res, None
        if res is not None:
            with contextlib.suppress(pyvisa.Error, OSError):
                res.close()

    def query(self, command: str) -> str:
        """Write ``command`` and read one reply line (one lock held for both)."""
        with self._lock:
            res = self._connect(command)
            try:
                self._discard_input(res)
                res.write(command)
                raw = res.read_raw()
            except pyvisa.VisaIOError as exc:
                raise self._io_failure(res, command, exc, None) from exc
            except (OSError, pyvisa.Error) as exc:
                self._drop()
                raise InstrumentConnectionError(self.instrument, str(exc), command) from exc
            return self._text(command, raw)

    def write(self, command: str) -> None:
        """Write ``command``."""
        with self._lock:
            res = self._connect(command)
            try:
                res.write(command)
            except pyvisa.VisaIOError as exc:
                raise self._io_failure(res, command, exc, None) from exc
            except (OSError, pyvisa.Error) as exc:
                self._drop()
                raise InstrumentConnectionError(self.instrument, str(exc), command) from exc

    def read_line(self, command: str, timeout_s: float | None = None) -> str:
        """Read one unsolicited line (``command`` names the wait in errors)."""
        with self._lock:
            res = self._connect(command)
            try:
                if timeout_s is not None:
                    res.timeout = max(1, round(timeout_s * 1000))
                raw = res.read_raw()
            except pyvisa.VisaIOError as exc:
                raise self._io_failure(res, command, exc, timeout_s) from exc
            except (OSError, pyvisa.Error) as exc:
                self._drop()
                raise InstrumentConnectionError(self.instrument, str(exc), command) from exc
            finally:
                if timeout_s is not None and self._res is not None:
                    self._res.timeout = max(1, round(self.timeout_s * 1000))
            return self._text(command, raw)

    def _io_failure(
        self, res: Any, command: str, exc: pyvisa.VisaIOError, timeout_s: float | None
    ) -> InstrumentError:
        """Drop the connection and map a VISA I/O error to the driver's exception."""
        closed = _peer_closed(res)
        self._drop()
        if exc.error_code == pyvisa.constants.StatusCode.error_timeout and not closed:
            wait = timeout_s if timeout_s is not None else self.timeout_s
            return InstrumentTimeout(self.instrument, command, wait)
        reason = "connection closed by the instrument" if closed else str(exc)
        return InstrumentConnectionError(self.instrument, reason, command)

    def _text(self, command: str, raw: bytes) -> str:
        """The reply line as text; a non-ASCII reply drops the connection and raises."""
        try:
            return _decode(self.instrument, command, raw, self._read_term)
        except InstrumentProtocolError:
            self._drop()
            raise

    def close(self) -> None:
        """Close the resource."""
        with self._lock:
            self._drop()


class SerialTransport:
    """A pyserial port or URL (``/dev/ttyUSB0``, ``socket://host:port``, ``loop://``)."""

    def __init__(
        self,
        url: str,
        *,
        instrument: str,
        timeout_s: float,
        baudrate: int = 9600,
        read_termination: str = "\r",
        write_termination: str = "\r",
        flush_before_query: bool = True,
    ) -> None:
        self.url = url
        self.instrument = instrument
        self.timeout_s = timeout_s
        self.baudrate = baudrate
        self.read_termination = read_termination
        self.write_termination = write_termination
        self.flush_before_query = flush_before_query
        self._port: Any = None
        self._lock = threading.Lock()

    def _connect(self, command: str) -> Any:
        if self._port is None:
            try:
                self._port = serial.serial_for_url(
                    self.url,
                    baudrate=self.baudrate,
                    timeout=self.timeout_s,
                    write_timeout=self.timeout_s,
                )
            except (*_SERIAL_ERRORS, ValueError) as exc:
                raise InstrumentConnectionError(
                    self.instrument, f"cannot open {self.url}: {exc}", command
                ) from exc
        return self._port

    def _drop(self) -> None:
        port, self._port = self._port, None
        if port is not None:
            with contextlib.suppress(serial.SerialException, OSError):
                port.close()

    def _readline(self, port: Any, command: str, timeout_s: float) -> str:
        term = self.read_termination.encode()
        port.timeout = timeout_s
        raw = bytes(port.read_until(term))
        if not raw.endswith(term):  # pyserial returns a short read on timeout
            self._drop()
            raise InstrumentTimeout(self.instrument, command, timeout_s)
        try:
            return _decode(self.instrument, command, raw, term)
        except InstrumentProtocolError:
            self._drop()
            raise

    def _io(self, command: str, reply: bool, timeout_s: float | None) -> str:
        with self._lock:
            port = self._connect(command)
            try:
                if command:
                    if self.flush_before_query:
                        port.reset_input_buffer()
                    port.write((command + self.write_termination).encode("ascii"))
                    port.flush()
                if not reply:
                    return ""
                return self._readline(
                    port, command, self.timeout_s if timeout_s is None else timeout_s
                )
            except _SERIAL_ERRORS as exc:
                self._drop()
                raise InstrumentConnectionError(self.instrument, str(exc), command) from exc

    def query(self, command: str) -> str:
        """Write ``command`` and read one reply line."""
        return self._io(command, True, None)

    def write(self, command: str) -> None:
        """Write ``command``."""
        self._io(command, False, None)

    def read_line(self, command: str, timeout_s: float | None = None) -> str:
        """Read one line the instrument sends unasked."""
        with self._lock:
            port = self._connect(command)
            try:
                return self._readline(
                    port, command, self.timeout_s if timeout_s is None else timeout_s
                )
            except _SERIAL_ERRORS as exc:
                self._drop()
                raise InstrumentConnectionError(self.instrument, str(exc), command) from exc

    def close(self) -> None:
        """Close the port."""
        with self._lock:
            self._drop()


class ModbusTransport:
    """Modbus TCP (``tcp://host:port``) or RTU (a serial device path) via pymodbus."""

    def __init__(
        self,
        address: str,
        *,
        instrument: str,
        timeout_s: float,
        device_id: int = 1,
        baudrate: int = 19200,
    ) -> None:
        self.address = address
        self.instrument = instrument
        self.timeout_s = timeout_s
        self.device_id = device_id
        self.baudrate = baudrate
        self._client: Any = None
        self._lock = threading.Lock()

    def _make_client(self) -> Any:
        if self.address.startswith("tcp://"):
            host, _, port = self.address[len("tcp://") :].rpartition(":")
            return ModbusTcpClient(host, port=int(port), timeout=self.timeout_s, retries=0)
        return ModbusSerialClient(
            self.address, baudrate=self.baudrate, timeout=self.timeout_s, retries=0
        )

    def _connect(self, what: str) -> Any:
        if self._client is None:
            try:
                client = self._make_client()
                ok = client.connect()
            except (ModbusException, OSError, ValueError) as exc:
                raise InstrumentConnectionError(
                    self.instrument, f"cannot open {self.address}: {exc}", what
                ) from exc
            if not ok:
                client.close()
                raise InstrumentConnectionError(
                    self.instrument, f"cannot open {self.address}", what
                )
            self._client = client
        return self._client

    def _drop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()

    def _call(self, what: str, fn: Callable[[Any], Any]) -> Any:
        with self._lock:
            client = self._connect(what)
            try:
                response = fn(client)
            except ModbusIOException as exc:
                self._drop()
                raise InstrumentTimeout(self.instrument, what, self.timeout_s) from exc
            except ConnectionException as exc:
                self._drop()
                raise InstrumentConnectionError(self.instrument, str(exc), what) from exc
            except (ModbusException, OSError) as exc:
                self._drop()
                raise InstrumentProtocolError(self.instrument, what, b"", str(exc)) from exc
            if response.isError():
                self._drop()
                raw = bytes([response.function_code, getattr(response, "exception_code", 0)])
                raise InstrumentProtocolError(self.instrument, what, raw, "Modbus exception reply")
            return response

    def read_registers(
        self, address: int, count: int, what: str, *, inputs: bool = False
    ) -> list[int]:
        """Read registers (function 3, or 4 with ``inputs``)."""

        def call(client: Any) -> Any:
            fn = client.read_input_registers if inputs else client.read_holding_registers
            return fn(address, count=count, device_id=self.device_id)

        regs = list(self._call(what, call).registers)
        if len(regs) != count:
            raise InstrumentProtocolError(
                self.instrument, what, bytes(regs), "wrong register count"
            )
        return regs

    def write_registers(self, address: int, values: Sequence[int], what: str) -> None:
        """Write holding registers (function 16)."""
        self._call(
            what, lambda c: c.write_registers(address, list(values), device_id=self.device_id)
        )

    def close(self) -> None:
        """Close the client."""
        with self._lock:
            self._drop()


class ScriptedTransport:
    """A line transport that replays a script and asserts every command.

    ``script`` is a list of ``(command, reply)``: ``reply`` None means a write (no reply);
    ``command`` None means a line the instrument sends on its own (read by
    :meth:`read_line`). A reply of type ``bytes`` is decoded like a real transport would
    (so non-ASCII garbage becomes :class:`InstrumentProtocolError`); the exception
    instance :class:`InstrumentError` in place of a reply is raised (to script faults).
    Call :meth:`assert_consumed` at the end.
    """

    def __init__(
        self,
        script: Sequence[tuple[str | None, str | bytes | InstrumentError | None]],
        *,
        instrument: str = "scripted",
        timeout_s: float = 1.0,
    ) -> None:
        self.script = list(script)
        self.instrument = instrument
        self.timeout_s = timeout_s
        self.position = 0
        self._lock = threading.Lock()

    def _next(self, command: str | None, want_reply: bool) -> str | None:
        with self._lock:
            if self.position >= len(self.script):
                raise AssertionError(f"unexpected {command!r}: script exhausted")
            expected, reply = self.script[self.position]
            self.position += 1
        if expected != command:
            raise AssertionError(f"step {self.position}: expected {expected!r}, got {command!r}")
        if isinstance(reply, InstrumentError):
            raise reply
        if want_reply != (reply is not None):
            kind = "a query" if reply is not None else "a write"
            raise AssertionError(f"step {self.position}: {command!r} should be {kind}")
        if isinstance(reply, bytes):
            return _decode(self.instrument, command or "", reply, b"")
        return reply

    def query(self, command: str) -> str:
        """Assert ``command`` is next and return its scripted reply."""
        reply = self._next(command, True)
        assert reply is not None
        return reply

    def write(self, command: str) -> None:
        """Assert ``command`` is the next (reply-less) step."""
        self._next(command, False)

    def read_line(self, command: str, timeout_s: float | None = None) -> str:
        """Return the next unsolicited scripted line."""
        reply = self._next(None, True)
        assert reply is not None
        return reply

    def assert_consumed(self) -> None:
        """Fail unless every scripted step was used."""
        if self.position != len(self.script):
            raise AssertionError(f"unused script steps: {self.script[self.position :]!r}")

    def close(self) -> None:
        """Nothing to close."""


class ScriptedRegisters:
    """A register transport that replays a script and asserts every access.

    Steps: ``("read", address, count, [registers])``, ``("read_input", address, count,
    [registers])`` or ``("write", address, [values])``.
    """

    def __init__(
        self,
        script: Sequence[tuple[Any, ...]],
        *,
        instrument: str = "scripted",
        timeout_s: float = 1.0,
    ) -> None:
        self.script = list(script)
        self.instrument = instrument
        self.timeout_s = timeout_s
        self.position = 0
        self.log: list[str] = []

    def _step(self, got: tuple[Any, ...]) -> tuple[Any, ...]:
        if self.position >= len(self.script):
            raise AssertionError(f"unexpected {got!r}: script exhausted")
        step = self.script[self.position]
        self.position += 1
        if tuple(step[: len(got)]) != got:
            raise AssertionError(f"step {self.position}: expected {step!r}, got {got!r}")
        return tuple(step)

    def read_registers(
        self, address: int, count: int, what: str, *, inputs: bool = False
    ) -> list[int]:
        """Assert the read is next and return its scripted registers."""
        self.log.append(what)
        step = self._step(("read_input" if inputs else "read", address, count))
        return list(step[3])

    def write_registers(self, address: int, values: Sequence[int], what: str) -> None:
        """Assert the write is next."""
        self.log.append(what)
        self._step(("write", address, list(values)))

    def assert_consumed(self) -> None:
        """Fail unless every scripted step was used."""
        if self.position != len(self.script):
            raise AssertionError(f"unused script steps: {self.script[self.position :]!r}")

    def close(self) -> None:
        """Nothing to close."""
