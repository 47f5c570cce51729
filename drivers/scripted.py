"""Scripted transports for protocol tests: each replays a script and asserts every access."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from drivers.errors import InstrumentError, InstrumentProtocolError
from drivers.io_record import IoObservers
from drivers.transport import (
    _decode,
    _Observed,
    read_request_pdu,
    read_response_pdu,
    registers_bytes,
    write_request_pdu,
    write_response_pdu,
)

__all__ = ["ScriptedRegisters", "ScriptedTransport"]


def _reply_bytes(reply: str | None) -> bytes:
    return b"" if reply is None else reply.encode("ascii")


class ScriptedTransport(_Observed):
    """A line transport that replays a script and asserts every command.

    ``script`` is a list of ``(command, reply)``: ``reply`` None means a write (no reply);
    ``command`` None means a line the instrument sends on its own (read by
    :meth:`read_line`). A reply of type ``bytes`` is decoded like a real transport would
    (so non-ASCII garbage becomes :class:`InstrumentProtocolError`); the exception
    instance :class:`InstrumentError` in place of a reply is raised (to script faults).
    Call :meth:`assert_consumed` at the end. Observers see each step as an exchange
    (command and reply as ASCII bytes, no terminators).
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
        self._io = IoObservers()

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

    def _observed(self, operation: str, command: str | None, want_reply: bool) -> str | None:
        if not self._io.callbacks:
            return self._next(command, want_reply)
        return self._io.record(
            self.instrument,
            operation,
            b"" if command is None else command.encode("ascii", "replace"),
            lambda: _reply_bytes(self._next(command, want_reply)),
            lambda raw: raw.decode("ascii") if want_reply else None,
        )

    def query(self, command: str) -> str:
        """Assert ``command`` is next and return its scripted reply."""
        reply = self._observed("query", command, True)
        assert reply is not None
        return reply

    def write(self, command: str) -> None:
        """Assert ``command`` is the next (reply-less) step."""
        self._observed("write", command, False)

    def read_line(self, command: str, timeout_s: float | None = None) -> str:
        """Return the next unsolicited scripted line."""
        reply = self._observed("read", None, True)
        assert reply is not None
        return reply

    def assert_consumed(self) -> None:
        """Fail unless every scripted step was used."""
        if self.position != len(self.script):
            raise AssertionError(f"unused script steps: {self.script[self.position :]!r}")

    def close(self) -> None:
        """Nothing to close."""


class ScriptedRegisters(_Observed):
    """A register transport that replays a script and asserts every access.

    Steps: ``("read", address, count, [registers])``, ``("read_input", address, count,
    [registers])`` or ``("write", address, [values])``. Observers see the request and
    response PDUs a Modbus transport would report.
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
        self._io = IoObservers()

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
        function = 4 if inputs else 3
        kind = "read_input" if inputs else "read"
        if not self._io.callbacks:
            return self._counted(list(self._step((kind, address, count))[3]), count, what)
        got: list[list[int]] = []

        def exchange() -> bytes:
            got.append(list(self._step((kind, address, count))[3]))
            return read_response_pdu(function, got[0])

        return self._io.record(
            self.instrument,
            "read_input_registers" if inputs else "read_holding_registers",
            read_request_pdu(function, address, count),
            exchange,
            lambda raw: self._counted(got[0], count, what),
        )

    def _counted(self, regs: list[int], count: int, what: str) -> list[int]:
        """As a Modbus transport does: a reply of the wrong length is a protocol error."""
        if len(regs) != count:
            raise InstrumentProtocolError(
                self.instrument, what, registers_bytes(regs), "wrong register count"
            )
        return regs

    def write_registers(self, address: int, values: Sequence[int], what: str) -> None:
        """Assert the write is next."""
        self.log.append(what)
        values = list(values)
        if not self._io.callbacks:
            self._step(("write", address, values))
            return

        def exchange() -> bytes:
            self._step(("write", address, values))
            return write_response_pdu(address, len(values))

        self._io.record(
            self.instrument,
            "write_registers",
            write_request_pdu(address, values),
            exchange,
            lambda raw: None,
        )

    def assert_consumed(self) -> None:
        """Fail unless every scripted step was used."""
        if self.position != len(self.script):
            raise AssertionError(f"unused script steps: {self.script[self.position :]!r}")

    def close(self) -> None:
        """Nothing to close."""
