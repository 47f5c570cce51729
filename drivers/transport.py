"""Transports: the byte pipes drivers talk through.

* :class:`VisaTransport` — pyvisa (``@py`` = pyvisa-py: TCPIP SOCKET/INSTR, ASRL; ``path@sim``
  = pyvisa-sim YAML fixtures for protocol tests);
* :class:`SerialTransport` — raw serial through pyserial (device paths, ``socket://``,
  ``loop://`` URLs);
* :class:`ModbusTransport` — Modbus TCP or RTU through pymodbus' synchronous clients;
* :class:`ScriptedTransport` / :class:`ScriptedRegisters` (:mod:`drivers.scripted`) —
  scripted stand-ins that assert every command/reply pair, for protocol tests.

Every transport holds one lock per connection for a whole query (write and read), maps
timeouts to :class:`~drivers.errors.InstrumentTimeout` naming the command, and after any
failure drops the connection so that the next call reconnects (recovery after the
instrument comes back, and no stale bytes from a late reply). Every exchange is reported
to the observers added with ``add_io_observer`` (see :mod:`drivers.io_record`).
"""

from __future__ import annotations

import contextlib
import socket
import struct
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
from drivers.io_record import IoObserver, IoObservers

_SERIAL_ERRORS = (serial.SerialException, OSError, termios.error)

__all__ = [
    "LineTransport",
    "ModbusTransport",
    "RegisterTransport",
    "ScriptedRegisters",
    "ScriptedTransport",
    "SerialTransport",
    "VisaTransport",
    "read_request_pdu",
    "read_response_pdu",
    "registers_bytes",
    "write_request_pdu",
    "write_response_pdu",
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

    def add_io_observer(self, callback: IoObserver) -> None:
        """Report every later exchange to ``callback`` (see :mod:`drivers.io_record`)."""
        ...

    def remove_io_observer(self, callback: IoObserver) -> None:
        """Stop reporting to ``callback``."""
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

    def add_io_observer(self, callback: IoObserver) -> None:
        """Report every later exchange to ``callback`` (see :mod:`drivers.io_record`)."""
        ...

    def remove_io_observer(self, callback: IoObserver) -> None:
        """Stop reporting to ``callback``."""
        ...

    def close(self) -> None:
        """Close the connection."""
        ...


class _Observed:
    """``add_io_observer`` / ``remove_io_observer`` over an :class:`IoObservers`."""

    _io: IoObservers

    def add_io_observer(self, callback: IoObserver) -> None:
        """Report every later exchange to ``callback`` (see :mod:`drivers.io_record`)."""
        self._io.add(callback)

    def remove_io_observer(self, callback: IoObserver) -> None:
        """Stop reporting to ``callback``."""
        self._io.remove(callback)


def registers_bytes(registers: Sequence[int]) -> bytes:
    """16-bit registers as big-endian bytes (as on the wire)."""
    return b"".join((r & 0xFFFF).to_bytes(2, "big") for r in registers)


def read_request_pdu(function: int, address: int, count: int) -> bytes:
    """Modbus request PDU of a register read (function 3 or 4)."""
    return struct.pack(">BHH", function, address, count)


def read_response_pdu(function: int, registers: Sequence[int]) -> bytes:
    """Modbus response PDU of a register read."""
    return struct.pack(">BB", function, 2 * len(registers)) + registers_bytes(registers)


def write_request_pdu(address: int, values: Sequence[int]) -> bytes:
    """Modbus request PDU of function 16 (write multiple registers)."""
    return struct.pack(">BHHB", 16, address, len(values), 2 * len(values)) + registers_bytes(values)


def write_response_pdu(address: int, count: int) -> bytes:
    """Modbus response PDU of function 16."""
    return struct.pack(">BHH", 16, address, count)


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


class VisaTransport(_Observed):
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
        self._io = IoObservers()

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

    def _sent(self, command: str) -> bytes:
        return (command + self.write_termination).encode("ascii", "replace")

    def _exchange(self, command: str, send: bool, reply: bool, timeout_s: float | None) -> bytes:
        """One exchange under the lock: the raw bytes received (b"" without a reply)."""
        res = self._connect(command)
        try:
            if send:
                if reply:
                    self._discard_input(res)
                res.write(command)
            if not reply:
                return b""
            if timeout_s is not None:
                res.timeout = max(1, round(timeout_s * 1000))
            return bytes(res.read_raw())
        except pyvisa.VisaIOError as exc:
            raise self._io_failure(res, command, exc, timeout_s) from exc
        except (OSError, pyvisa.Error) as exc:
            self._drop()
            raise InstrumentConnectionError(self.instrument, str(exc), command) from exc
        finally:
            if timeout_s is not None and self._res is not None:
                self._res.timeout = max(1, round(self.timeout_s * 1000))

    def query(self, command: str) -> str:
        """Write ``command`` and read one reply line (one lock held for both)."""
        with self._lock:
            if not self._io.callbacks:
                return self._text(command, self._exchange(command, True, True, None))
            return self._io.record(
                self.instrument,
                "query",
                self._sent(command),
                lambda: self._exchange(command, True, True, None),
                lambda raw: self._text(command, raw),
            )

    def write(self, command: str) -> None:
        """Write ``command``."""
        with self._lock:
            if not self._io.callbacks:
                self._exchange(command, True, False, None)
                return
            self._io.record(
                self.instrument,
                "write",
                self._sent(command),
                lambda: self._exchange(command, True, False, None),
                lambda raw: None,
            )

    def read_line(self, command: str, timeout_s: float | None = None) -> str:
        """Read one unsolicited line (``command`` names the wait in errors)."""
        with self._lock:
            if not self._io.callbacks:
                return self._text(command, self._exchange(command, False, True, timeout_s))
            return self._io.record(
                self.instrument,
                "read",
                b"",
                lambda: self._exchange(command, False, True, timeout_s),
                lambda raw: self._text(command, raw),
            )

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


class SerialTransport(_Observed):
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
        self._io = IoObservers()

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

    def _exchange(self, command: str, send: bool, reply: bool, timeout_s: float) -> bytes:
        """One exchange under the lock: the raw bytes received, complete or not."""
        port = self._connect(command)
        try:
            if send and command:
                if self.flush_before_query:
                    port.reset_input_buffer()
                port.write((command + self.write_termination).encode("ascii"))
                port.flush()
            if not reply:
                return b""
            port.timeout = timeout_s
            return bytes(port.read_until(self.read_termination.encode()))
        except _SERIAL_ERRORS as exc:
            self._drop()
            raise InstrumentConnectionError(self.instrument, str(exc), command) from exc

    def _line(self, command: str, raw: bytes, timeout_s: float) -> str:
        """The reply line of ``raw``; a short read (timeout) or garbage drops the port."""
        term = self.read_termination.encode()
        if not raw.endswith(term):  # pyserial returns a short read on timeout
            self._drop()
            raise InstrumentTimeout(self.instrument, command, timeout_s)
        try:
            return _decode(self.instrument, command, raw, term)
        except InstrumentProtocolError:
            self._drop()
            raise

    def _run(self, operation: str, command: str, send: bool, timeout_s: float | None) -> str:
        wait = self.timeout_s if timeout_s is None else timeout_s
        reply = operation != "write"
        with self._lock:
            if not self._io.callbacks:
                raw = self._exchange(command, send, reply, wait)
                return self._line(command, raw, wait) if reply else ""
            sent = (command + self.write_termination).encode("ascii", "replace") if send else b""
            return self._io.record(
                self.instrument,
                operation,
                sent,
                lambda: self._exchange(command, send, reply, wait),
                lambda raw: self._line(command, raw, wait) if reply else "",
            )

    def query(self, command: str) -> str:
        """Write ``command`` and read one reply line."""
        return self._run("query", command, True, None)

    def write(self, command: str) -> None:
        """Write ``command``."""
        self._run("write", command, True, None)

    def read_line(self, command: str, timeout_s: float | None = None) -> str:
        """Read one line the instrument sends unasked."""
        return self._run("read", command, False, timeout_s)

    def close(self) -> None:
        """Close the port."""
        with self._lock:
            self._drop()


class ModbusTransport(_Observed):
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
        self._io = IoObservers()

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
        """One request under the lock; the response, or the mapped exception."""
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

    def _registers(self, registers: Sequence[int], count: int, what: str) -> list[int]:
        regs = list(registers)
        if len(regs) != count:
            raise InstrumentProtocolError(
                self.instrument, what, registers_bytes(regs), "wrong register count"
            )
        return regs

    def read_registers(
        self, address: int, count: int, what: str, *, inputs: bool = False
    ) -> list[int]:
        """Read registers (function 3, or 4 with ``inputs``)."""

        def call(client: Any) -> Any:
            fn = client.read_input_registers if inputs else client.read_holding_registers
            return fn(address, count=count, device_id=self.device_id)

        with self._lock:
            if not self._io.callbacks:
                return self._registers(self._call(what, call).registers, count, what)
            function = 4 if inputs else 3
            got: list[list[int]] = []

            def exchange() -> bytes:
                regs = [int(r) for r in self._call(what, call).registers]
                got.append(regs)
                return read_response_pdu(function, regs)

            return self._io.record(
                self.instrument,
                "read_input_registers" if inputs else "read_holding_registers",
                read_request_pdu(function, address, count),
                exchange,
                lambda raw: self._registers(got[0], count, what),
            )

    def write_registers(self, address: int, values: Sequence[int], what: str) -> None:
        """Write holding registers (function 16)."""
        values = list(values)

        def call(client: Any) -> Any:
            return client.write_registers(address, values, device_id=self.device_id)

        with self._lock:
            if not self._io.callbacks:
                self._call(what, call)
                return

            def exchange() -> bytes:
                self._call(what, call)
                return write_response_pdu(address, len(values))

            self._io.record(
                self.instrument,
                "write_registers",
                write_request_pdu(address, values),
                exchange,
                bool,
            )

    def close(self) -> None:
        """Close the client."""
        with self._lock:
            self._drop()


# The scripted stand-ins live in drivers.scripted; imported here for existing callers.
from drivers.scripted import ScriptedRegisters, ScriptedTransport  # noqa: E402
