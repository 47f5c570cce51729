"""VisaTransport over pyvisa-py against small loopback servers with known replies."""

from __future__ import annotations

import array
import fcntl
import os
import pty
import socket
import termios
import threading
import tty
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from drivers.errors import InstrumentProtocolError, InstrumentTimeout
from drivers.instruments.scpi import ScpiGasAnalyzer
from drivers.transport import VisaTransport
from drivers.units import ureg

Reply = Callable[[bytes], bytes | None]


@pytest.fixture
def serve() -> Iterator[Callable[[Reply], str]]:
    """Start a loopback line server answering each line with ``reply(line)``; gives its address.

    ``reply`` returns the bytes to send (terminator included) or None to stay silent.
    """
    stop = threading.Event()
    listeners: list[socket.socket] = []

    def start(reply: Reply) -> str:
        listener = socket.create_server(("127.0.0.1", 0))
        listener.settimeout(0.1)
        listeners.append(listener)

        def run() -> None:
            while not stop.is_set():
                try:
                    conn, _ = listener.accept()
                except OSError:
                    continue
                threading.Thread(target=handle, args=(conn,), daemon=True).start()

        def handle(conn: socket.socket) -> None:
            conn.settimeout(0.1)
            buffer = b""
            with conn:
                while not stop.is_set():
                    try:
                        chunk = conn.recv(4096)
                    except TimeoutError:
                        continue
                    except OSError:
                        return
                    if not chunk:
                        return
                    buffer += chunk
                    while b"\n" in buffer:
                        line, buffer = buffer.split(b"\n", 1)
                        out = reply(line)
                        if out is not None:
                            conn.sendall(out)

        threading.Thread(target=run, daemon=True).start()
        port = listener.getsockname()[1]
        return f"TCPIP::127.0.0.1::{port}::SOCKET"

    yield start
    stop.set()
    for listener in listeners:
        listener.close()


def test_reply_read_and_decoded(serve: Callable[[Reply], str]) -> None:
    address = serve(lambda line: b"+1.00450E+03\n" if line == b"MEAS:CONC?" else None)
    analyzer = ScpiGasAnalyzer.open("co2", address, 1.0)
    try:
        assert analyzer.read_concentration() == ureg.Quantity(1004.5, "umol/mol")
    finally:
        analyzer.close()


def test_non_ascii_reply_carries_raw_bytes(serve: Callable[[Reply], str]) -> None:
    garbage = b"\xfe\x81#?\xa7!\n"
    address = serve(lambda line: garbage)
    t = VisaTransport(address, instrument="co2", timeout_s=1.0)
    try:
        with pytest.raises(InstrumentProtocolError, match=r"co2: 'MEAS:CONC\?'") as err:
            t.query("MEAS:CONC?")
        assert err.value.raw == garbage
        assert err.value.command == "MEAS:CONC?"
    finally:
        t.close()


def test_silence_is_a_timeout_naming_the_command(serve: Callable[[Reply], str]) -> None:
    address = serve(lambda line: None if line == b"MEAS:CONC?" else b"ok\n")
    t = VisaTransport(address, instrument="co2", timeout_s=0.2)
    try:
        with pytest.raises(InstrumentTimeout, match=r"co2: 'MEAS:CONC\?': no reply within 0.2 s"):
            t.query("MEAS:CONC?")
        assert t.query("PING?") == "ok"  # reconnected after the failure
    finally:
        t.close()


def test_one_lock_per_query_keeps_replies_with_their_commands(
    serve: Callable[[Reply], str],
) -> None:
    # each reply echoes its command, so a reply read by the wrong thread is detected
    address = serve(lambda line: b"R:" + line + b"\n")
    t = VisaTransport(address, instrument="echo", timeout_s=2.0)
    errors: list[Any] = []

    def worker(k: int) -> None:
        for i in range(150):
            command = f"Q{k}:{i}?"
            try:
                reply = t.query(command)
            except Exception as exc:  # collect, the assertion below reports it
                errors.append(exc)
                return
            if reply != f"R:{command}":
                errors.append((command, reply))

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    try:
        for th in threads:
            th.start()
        for th in threads:
            th.join(30)
    finally:
        t.close()
    assert errors == []


def _read_line(fd: int) -> bytes:
    line = b""
    while not line.endswith(b"\n"):
        line += os.read(fd, 1)
    return line


def test_serial_resource_discards_a_late_reply_before_the_next_query() -> None:
    # A serial line has no connection to drop after a timeout: a reply arriving late
    # must be thrown away before the next query, or every later reply is one behind.
    master, slave = pty.openpty()
    tty.setraw(slave)
    t = VisaTransport(f"ASRL{os.ttyname(slave)}::INSTR", instrument="load", timeout_s=2.0)
    try:
        t.write("OUTP OFF")  # connects
        assert _read_line(master) == b"OUTP OFF\n"
        late = b"+9.000000E+00\n"
        os.write(master, late)
        waiting = array.array("i", [0])
        while waiting[0] < len(late):  # until the late line sits in the port's input queue
            fcntl.ioctl(slave, termios.FIONREAD, waiting)

        def respond() -> None:
            command = _read_line(master)
            os.write(master, b"R:" + command)

        responder = threading.Thread(target=respond, daemon=True)
        responder.start()
        assert t.query("MEAS:CURR?") == "R:MEAS:CURR?"
        responder.join(5)
    finally:
        t.close()
        os.close(master)
        os.close(slave)
