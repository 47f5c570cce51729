"""Servers of the simulated bench: protocol back-ends and fault-injecting fronts.

Each instrument is a back-end server on an internal loopback port (a line server for
SCPI/ASCII devices, a pymodbus server for register-map devices) behind a front that the
driver connects to: a TCP proxy (:class:`TcpFront`) or a pseudo-terminal bridge
(:class:`PtyFront`, reached through a stable symlink). The front applies faults to the
bytes on the wire, so every protocol suffers them alike:

* ``no_reply`` — the device ignores commands and sends nothing;
* ``garbage`` — each reply is replaced by non-ASCII bytes (line devices keep the line
  terminator, so the driver receives a complete but unparseable line);
* ``drop_connection`` — open connections are closed (the pseudo-terminal disappears) and
  new ones are refused until the fault clears;
* ``slow_reply`` — replies are delayed by ``delay_s`` wall seconds;
* ``out_of_range`` — handled by the devices (overrange values / flags).

What the drivers raise, naming instrument and command (see ``examples/benches/README.md``):
no_reply, slow_reply → InstrumentTimeout; garbage → InstrumentProtocolError (Modbus:
InstrumentTimeout, the framer discards the garbled frame); drop_connection →
InstrumentConnectionError; out_of_range → InstrumentOverrange.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import pty
import selectors
import socket
import socketserver
import threading
import time
import tty
from dataclasses import dataclass
from typing import Any

from pymodbus.constants import ExcCodes
from pymodbus.framer import FramerType
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from drivers.sim.clock import Clock
from drivers.sim.devices import LineDevice, ModbusDevice
from drivers.sim.noise import Noise

# The simulated devices report malformed requests to their client, not to the log.
logging.getLogger("pymodbus").setLevel(logging.CRITICAL)

__all__ = ["FaultState", "LineBackend", "ModbusBackend", "ModbusLoop", "PtyFront", "TcpFront"]

_GARBAGE = b"\xfe\x81#?\xa7!"


@dataclass
class _Fault:
    kind: str
    start: float
    end: float | None
    delay_s: float


class FaultState:
    """Faults of one instrument: scheduled ones from the bench file and on-demand ones."""

    def __init__(
        self, clock: Clock, scheduled: list[_Fault] | None = None, noise: Noise | None = None
    ) -> None:
        self.clock = clock
        self.noise = noise or Noise(0, "")
        self.lock = threading.Lock()
        self.scheduled = list(scheduled or [])
        self.manual: _Fault | None = None

    def inject(self, kind: str, duration_s: float | None, delay_s: float) -> None:
        """Start a fault now, for ``duration_s`` simulated seconds (None: until cleared)."""
        now = self.clock.now()
        with self.lock:
            self.manual = _Fault(
                kind, now, None if duration_s is None else now + duration_s, delay_s
            )

    def clear(self) -> None:
        """End the on-demand fault and any scheduled fault active now."""
        now = self.clock.now()
        with self.lock:
            self.manual = None
            for f in self.scheduled:
                if f.start <= now and (f.end is None or now < f.end):
                    f.end = now

    def active(self) -> _Fault | None:
        """The fault in force now, if any."""
        now = self.clock.now()
        with self.lock:
            for f in ([self.manual] if self.manual else []) + self.scheduled:
                if f.start <= now and (f.end is None or now < f.end):
                    return f
        return None

    def is_active(self, kind: str) -> bool:
        """Whether fault ``kind`` is in force."""
        f = self.active()
        return f is not None and f.kind == kind

    def garbage(self, n: int) -> bytes:
        """``n`` garbled bytes (a function of the simulated time, like all the noise)."""
        return self.noise.bytes("garbage", self.clock.now(), n)

    def state(self) -> dict[str, Any]:
        """The on-demand fault and the scheduled faults' ends (JSON-able)."""
        with self.lock:
            manual = self.manual
            return {
                "manual": None if manual is None else list(dataclasses.astuple(manual)),
                "ends": [f.end for f in self.scheduled],
            }

    def restore(self, state: dict[str, Any]) -> None:
        """Take a :meth:`state`."""
        with self.lock:
            m = state["manual"]
            self.manual = None if m is None else _Fault(str(m[0]), float(m[1]), m[2], float(m[3]))
            for f, end in zip(self.scheduled, state["ends"], strict=True):
                f.end = end


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _bind(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port))
    except OSError:
        sock.close()
        raise
    sock.listen(16)
    return sock


class _LineHandler(socketserver.BaseRequestHandler):
    server: _LineServer

    def handle(self) -> None:
        device = self.server.device
        term = device.terminator
        sock: socket.socket = self.request
        sock.settimeout(0.05)
        buffer = b""
        while not self.server.stopping.is_set():
            for line in device.outbox():
                sock.sendall(line.encode("ascii") + term)
            try:
                chunk = sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            if not chunk:
                return
            buffer += chunk
            while term in buffer:
                raw, buffer = buffer.split(term, 1)
                reply = device.handle(raw.decode("ascii", "replace"))
                if reply is not None:
                    sock.sendall(reply.encode("ascii") + term)


class _LineServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, device: LineDevice) -> None:
        self.device = device
        self.stopping = threading.Event()
        super().__init__(("127.0.0.1", 0), _LineHandler)


class LineBackend:
    """A line-protocol device served on an internal loopback port."""

    def __init__(self, device: LineDevice) -> None:
        self.server = _LineServer(device)
        self.port = int(self.server.server_address[1])
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def start(self) -> None:
        """Start serving."""
        self.thread.start()

    def stop(self) -> None:
        """Stop serving and close the port."""
        self.server.stopping.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


class ModbusLoop:
    """One asyncio loop thread hosting all pymodbus servers of a bench."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Any, timeout: float = 10.0) -> Any:
        """Run a coroutine on the loop and wait for it."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        """Stop and close the loop."""
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


class ModbusBackend:
    """A register-map device served by pymodbus (TCP, MBAP or RTU framing) on loopback."""

    def __init__(self, device: ModbusDevice, loop: ModbusLoop, *, rtu: bool) -> None:
        self.device = device
        self.loop = loop
        self.rtu = rtu
        self.port = _free_port()
        self.server: Any = None

    async def _action(
        self,
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        registers: list[int],
        set_values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        if set_values is None:
            self.device.refresh()
            registers[:] = self.device.registers[start_address : start_address + len(registers)]
            return None
        if not self.device.write(address, [int(v) for v in set_values]):
            return ExcCodes.ILLEGAL_VALUE
        return None

    async def _start(self) -> None:
        sim = SimDevice(
            1,
            simdata=[SimData(0, count=ModbusDevice.size, values=0, datatype=DataType.REGISTERS)],
            action=self._action,
        )
        self.server = ModbusTcpServer(
            sim,
            address=("127.0.0.1", self.port),
            framer=FramerType.RTU if self.rtu else FramerType.SOCKET,
        )
        await self.server.serve_forever(background=True)

    def start(self) -> None:
        """Start serving."""
        self.loop.run(self._start())

    def stop(self) -> None:
        """Stop serving."""
        if self.server is not None:
            self.loop.run(self.server.shutdown())


class _Pump:
    """Copies bytes between a client end and a back-end socket, applying faults."""

    def __init__(self, faults: FaultState, terminator: bytes | None) -> None:
        self.faults = faults
        self.terminator = terminator

    def to_client(self, data: bytes) -> bytes | None:
        """Transform back-end → client bytes; None means drop the connection."""
        fault = self.faults.active()
        if fault is None or fault.kind == "out_of_range":
            return data
        if fault.kind == "no_reply":
            return b""
        if fault.kind == "garbage":
            if self.terminator is None:
                return self.faults.garbage(len(data))
            return (_GARBAGE + self.terminator) * max(1, data.count(self.terminator))
        if fault.kind == "slow_reply":
            time.sleep(fault.delay_s)
            return data
        return None

    def to_backend(self, data: bytes) -> bytes | None:
        """Client → back-end bytes: a hung or disconnected device takes nothing."""
        fault = self.faults.active()
        if fault is None or fault.kind in ("out_of_range", "garbage", "slow_reply"):
            return data
        if fault.kind == "no_reply":
            return b""
        return None

    def dropped(self) -> bool:
        """Whether the connection must be dropped now."""
        return self.faults.is_active("drop_connection")


class TcpFront:
    """A TCP proxy in front of a back-end: the address the driver connects to."""

    def __init__(
        self, backend_port: int, faults: FaultState, terminator: bytes | None, port: int = 0
    ) -> None:
        self.backend_port = backend_port
        self.pump = _Pump(faults, terminator)
        self.listener = _bind(port)
        self.port = int(self.listener.getsockname()[1])
        self.stopping = threading.Event()
        self.threads: list[threading.Thread] = []
        self.conns: set[socket.socket] = set()
        self.lock = threading.Lock()
        self.acceptor = threading.Thread(target=self._accept, daemon=True)

    def start(self) -> None:
        """Start accepting."""
        self.acceptor.start()

    def _accept(self) -> None:
        listener: socket.socket | None = self.listener
        while not self.stopping.is_set():
            if self.pump.dropped():
                # a dropped device refuses connections until it comes back
                if listener is not None:
                    listener.close()
                    listener = None
                time.sleep(0.02)
                continue
            if listener is None:
                try:
                    listener = self.listener = _bind(self.port)
                except OSError:
                    time.sleep(0.05)
                    continue
            listener.settimeout(0.05)
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                backend = socket.create_connection(("127.0.0.1", self.backend_port), timeout=2)
            except OSError:
                client.close()
                continue
            for s in (client, backend):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            t = threading.Thread(target=self._serve, args=(client, backend), daemon=True)
            with self.lock:
                self.threads = [x for x in self.threads if x.is_alive()]
                self.threads.append(t)
            t.start()

    def _serve(self, client: socket.socket, backend: socket.socket) -> None:
        sel = selectors.DefaultSelector()
        sel.register(client, selectors.EVENT_READ, "c")
        sel.register(backend, selectors.EVENT_READ, "b")
        try:
            while not self.stopping.is_set():
                if self.pump.dropped():
                    return
                for key, _ in sel.select(0.05):
                    src: socket.socket = key.fileobj  # type: ignore[assignment]
                    try:
                        data = src.recv(65536)
                    except OSError:
                        return
                    if not data:
                        return
                    out = (
                        self.pump.to_backend(data) if key.data == "c" else self.pump.to_client(data)
                    )
                    if out is None:
                        return
                    if out:
                        (backend if key.data == "c" else client).sendall(out)
        except OSError:
            return
        finally:
            sel.close()
            for s in (client, backend):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()

    def stop(self) -> None:
        """Stop accepting, close every connection."""
        self.stopping.set()
        self.acceptor.join(5)
        self.listener.close()
        for t in list(self.threads):
            t.join(5)


class PtyFront:
    """A pseudo-terminal bridged to a back-end, reachable at a stable symlink ``link``.

    ``drop_connection`` closes the pseudo-terminal and removes the link; when the fault
    clears a new pseudo-terminal is created behind the same link.
    """

    def __init__(
        self, backend_port: int, faults: FaultState, terminator: bytes | None, link: str
    ) -> None:
        self.backend_port = backend_port
        self.pump = _Pump(faults, terminator)
        self.link = link
        self.stopping = threading.Event()
        self.master = -1
        self.slave = -1
        self.thread = threading.Thread(target=self._run, daemon=True)
        self._open_pty()

    def _open_pty(self) -> None:
        self.master, self.slave = pty.openpty()
        tty.setraw(self.slave)
        tmp = self.link + ".new"
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        os.symlink(os.ttyname(self.slave), tmp)
        os.replace(tmp, self.link)

    def _close_pty(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.link)
        for fd in (self.master, self.slave):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self.master = self.slave = -1

    def start(self) -> None:
        """Start bridging."""
        self.thread.start()

    def _run(self) -> None:
        backend: socket.socket | None = None
        try:
            while not self.stopping.is_set():
                if self.pump.dropped():
                    if self.master >= 0:
                        self._close_pty()
                    if backend is not None:
                        backend.close()
                        backend = None
                    time.sleep(0.02)
                    continue
                if self.master < 0:
                    self._open_pty()
                if backend is None:
                    backend = socket.create_connection(("127.0.0.1", self.backend_port), timeout=2)
                    backend.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                backend = self._step(backend)
        finally:
            if backend is not None:
                backend.close()

    def _step(self, backend: socket.socket) -> socket.socket | None:
        sel = selectors.DefaultSelector()
        try:
            sel.register(self.master, selectors.EVENT_READ, "c")
            sel.register(backend, selectors.EVENT_READ, "b")
            for key, _ in sel.select(0.05):
                try:
                    if key.data == "c":
                        data = os.read(self.master, 65536)
                        out = self.pump.to_backend(data)
                        if out:
                            backend.sendall(out)
                    else:
                        data = backend.recv(65536)
                        if not data:
                            backend.close()
                            return None
                        out = self.pump.to_client(data)
                        if out:
                            os.write(self.master, out)
                except OSError:
                    # the slave side closed by the client is harmless; a broken back-end reconnects
                    if key.data == "b":
                        backend.close()
                        return None
            return backend
        finally:
            sel.close()

    def stop(self) -> None:
        """Stop bridging, close the pseudo-terminal and remove the link."""
        self.stopping.set()
        self.thread.join(5)
        self._close_pty()
