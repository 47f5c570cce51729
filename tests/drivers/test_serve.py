"""``lims sim serve BENCH.toml`` for every example bench: serve, Ctrl-C, nothing left.

Also ``python -m drivers.sim`` (the same server without the application) and SIGTERM.
"""

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
        "bomb-calorimeter",
        "sulfur-analyzer",
        "sulfur-analyzer-ir",
        "belt-scale",
        "co2-cems",
    } <= names


_SCRIPT = Path(sys.executable).with_name("lims")  # the installed console script
LIMS = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "lims.cli.main"]
SIM = [sys.executable, "-m", "drivers.sim"]


@pytest.mark.parametrize(
    ("command", "path", "signum"),
    [
        *(([*LIMS, "sim", "serve"], path, signal.SIGINT) for path in BENCHES),
        (SIM, ROOT / "examples" / "benches" / "gas-analyzer.toml", signal.SIGTERM),
    ],
    ids=[*(f"lims-{p.stem}-SIGINT" for p in BENCHES), "drivers.sim-gas-analyzer-SIGTERM"],
)
def test_serve_and_interrupt(command: list[str], path: Path, signum: signal.Signals) -> None:
    proc = subprocess.Popen(
        [*command, str(path)],
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
        proc.send_signal(signum)
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


@pytest.mark.parametrize("command", [[*LIMS, "sim", "serve"], SIM], ids=["lims", "drivers.sim"])
def test_bad_bench_exit_code(tmp_path: Path, command: list[str]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("name = \n")
    proc = subprocess.run(
        [*command, str(bad)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2
    assert "bad.toml: line 1" in proc.stderr
