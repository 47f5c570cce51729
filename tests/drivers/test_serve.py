"""``python -m drivers.sim BENCH.toml`` for every example bench: serve, SIGINT, nothing left."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCHES = sorted((ROOT / "examples" / "benches").glob("*.toml"))


def test_all_example_benches_present() -> None:
    names = {p.stem for p in BENCHES}
    assert {
        "gas-analyzer",
        "ch4-analyzer",
        "gas-flowmeter",
        "ac-pile",
        "dc-charger",
        "elemental-analyzer",
    } <= names


@pytest.mark.parametrize("path", BENCHES, ids=lambda p: p.stem)
def test_serve_and_interrupt(path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "drivers.sim", str(path)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("ready"):
                break
        control = next(x for x in lines if x.startswith("control")).split()[1]
        tcp_ports = [int(control.rsplit(":", 1)[1])]
        links = []
        for line in lines:
            fields = line.rstrip("\n").split("\t")
            if len(fields) == 4:
                address = fields[3]
                if address.startswith("TCPIP::"):
                    tcp_ports.append(int(address.split("::")[2]))
                elif address.startswith("tcp://"):
                    tcp_ports.append(int(address.rsplit(":", 1)[1]))
                elif address.startswith(("/", "ASRL/")):
                    links.append(address.removeprefix("ASRL").removesuffix("::INSTR"))
        for port in tcp_ports:
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
        for link in links:
            assert os.path.exists(link)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "stopped" in out
    for port in tcp_ports:
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
    for link in links:
        assert not os.path.exists(link)
        assert not os.path.exists(os.path.dirname(link))


def test_bad_bench_exit_code(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("name = \n")
    proc = subprocess.run(
        [sys.executable, "-m", "drivers.sim", str(bad)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2
    assert "bad.toml: line 1" in proc.stderr
