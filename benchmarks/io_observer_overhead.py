"""CPU a transport spends per exchange, without and with an instrument I/O observer.

Run: ``uv run python benchmarks/io_observer_overhead.py [--calls N] [--rounds R]``.

Each transport (VISA, serial, Modbus) is driven against an in-memory stand-in of its
connection that answers at once (a pyvisa resource, a pyserial port, a pymodbus client),
so the figure is the transport's own work per call — free of the round trip and of other
processes' load, which on a shared machine swamp the end-to-end figures of
``driver_overhead.py``. Prints the median over the rounds of the calling thread's CPU
time per call for: no observer (what every call pays since the I/O record exists: one
check), and one observer that queues each exchange (what a recorded run pays).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import deque
from collections.abc import Callable
from typing import Any, ClassVar

from drivers.io_record import IoExchange
from drivers.transport import ModbusTransport, SerialTransport, VisaTransport

REPLY = b"+1.004500E+03\n"


class _Resource:
    """A pyvisa message resource that answers every read with one reply line."""

    timeout = 2000

    def write(self, command: str) -> None:
        """Accept a command."""

    def read_raw(self) -> bytes:
        """One reply line."""
        return REPLY


class _Port:
    """A pyserial port that answers every read with one data frame."""

    timeout = 1.0

    def reset_input_buffer(self) -> None:
        """Nothing buffered."""

    def write(self, data: bytes) -> int:
        """Accept bytes."""
        return len(data)

    def flush(self) -> None:
        """Nothing to flush."""

    def read_until(self, terminator: bytes) -> bytes:
        """One frame."""
        return b"A +101.33 +023.50 +0.5012 +0.5010 +0.5000 N2\r"


class _Response:
    registers: ClassVar[list[int]] = [0x447B, 0x4000, 0]

    def isError(self) -> bool:  # noqa: N802 (pymodbus' name)
        """A normal response."""
        return False


class _Client:
    """A pymodbus client whose reads return three registers."""

    def read_input_registers(self, address: int, *, count: int, device_id: int) -> _Response:
        """Three registers."""
        return _Response()


def transports() -> dict[str, tuple[Any, Callable[[], Any]]]:
    """Each transport on its stand-in connection, and a call of it."""
    visa = VisaTransport("TCPIP::127.0.0.1::1::SOCKET", instrument="analyzer", timeout_s=2.0)
    visa._res = _Resource()
    serial = SerialTransport("loop://", instrument="mfc", timeout_s=1.0)
    serial._port = _Port()
    modbus = ModbusTransport("tcp://127.0.0.1:1", instrument="ch4", timeout_s=1.0)
    modbus._client = _Client()
    return {
        "VISA query": (visa, lambda: visa.query("MEAS:CONC?")),
        "serial query": (serial, lambda: serial.query("A")),
        "Modbus read": (
            modbus,
            lambda: modbus.read_registers(0, 3, "concentration", inputs=True),
        ),
    }


def per_call_us(call: Callable[[], Any], calls: int) -> float:
    """CPU µs of the calling thread per call."""
    start = time.thread_time()
    for _ in range(calls):
        call()
    return (time.thread_time() - start) / calls * 1e6


def main() -> None:
    """Measure and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100_000, help="calls per round")
    parser.add_argument("--rounds", type=int, default=7, help="rounds (median reported)")
    args = parser.parse_args()
    if args.calls < 1 or args.rounds < 1:
        parser.error("--calls and --rounds must be ≥ 1")
    record: deque[IoExchange] = deque(maxlen=1000)
    print("CPU µs per call (median)   no observer   one observer   difference")
    for label, (transport, call) in transports().items():
        bare = statistics.median(per_call_us(call, args.calls) for _ in range(args.rounds))
        transport.add_io_observer(record.append)
        observed = statistics.median(per_call_us(call, args.calls) for _ in range(args.rounds))
        transport.remove_io_observer(record.append)
        print(f"{label:<26} {bare:11.2f} {observed:14.2f} {observed - bare:+12.2f}")


if __name__ == "__main__":
    main()
