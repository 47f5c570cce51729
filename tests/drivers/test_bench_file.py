"""Bad bench files are refused with one line naming the file and the key or line."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from drivers.bench import load_bench
from drivers.errors import BenchFileError

GOOD = (Path(__file__).parent / "data" / "all-instruments.toml").read_text()


def refused(tmp_path: Path, text: str) -> str:
    path = tmp_path / "bench.toml"
    path.write_text(text)
    with pytest.raises(BenchFileError) as err:
        load_bench(path)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith("bench.toml: ")
    return message


def test_good_bench_loads() -> None:
    bench = load_bench(Path(__file__).parent / "data" / "all-instruments.toml")
    assert bench.simulated
    assert bench.time_scale == 60
    assert bench.instruments["analyzer"].sim["t90"].to("s").magnitude == 20


def test_unknown_role(tmp_path: Path) -> None:
    msg = refused(tmp_path, GOOD.replace('role = "gas_analyzer"', 'role = "gas_analyser"', 1))
    assert "instruments.analyzer.role: unknown role 'gas_analyser'" in msg


def test_unknown_driver(tmp_path: Path) -> None:
    msg = refused(tmp_path, GOOD.replace('driver = "scpi-load"', 'driver = "scpi-loader"'))
    assert "instruments.load.driver: unknown driver 'scpi-loader'" in msg


def test_driver_of_other_role(tmp_path: Path) -> None:
    msg = refused(tmp_path, GOOD.replace('driver = "scpi-load"', 'driver = "scpi-gas-analyzer"'))
    assert "instruments.load.driver" in msg


def test_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        text = GOOD.replace(
            'timeout = "0.5 s"\n[instruments.analyzer.sim]',
            f'timeout = "0.5 s"\nport = {port}\n[instruments.analyzer.sim]',
        )
        msg = refused(tmp_path, text)
    assert f"instruments.analyzer.port: port {port} is already in use" in msg


def test_port_in_time_wait_is_free(tmp_path: Path) -> None:
    # a bench with a fixed port, stopped after a client was connected, can be served again
    with socket.socket() as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port)) as client:
            conn, _ = server.accept()
            conn.close()  # the server side closes first: its port goes to TIME_WAIT
            assert client.recv(1) == b""
    path = tmp_path / "bench.toml"
    path.write_text(
        GOOD.replace(
            'timeout = "0.5 s"\n[instruments.analyzer.sim]',
            f'timeout = "0.5 s"\nport = {port}\n[instruments.analyzer.sim]',
        )
    )
    assert load_bench(path).instruments["analyzer"].port == port


def test_wrong_dimension(tmp_path: Path) -> None:
    msg = refused(tmp_path, GOOD.replace('t90 = "20 s"', 't90 = "20 kg"', 1))
    assert "instruments.analyzer.sim.t90: '20 kg' has the wrong dimension" in msg


def test_missing_physics_value(tmp_path: Path) -> None:
    msg = refused(tmp_path, GOOD.replace('noise_sd = "0.5 umol/mol"\n', "", 1))
    assert "instruments.analyzer.sim.noise_sd: missing physics value" in msg


def test_malformed_toml(tmp_path: Path) -> None:
    lines = GOOD.splitlines()
    lines[9] = 'range = "2000 umol/mol'
    msg = refused(tmp_path, "\n".join(lines))
    assert "bench.toml: line 10: malformed TOML" in msg


def test_unknown_key_and_bad_reference(tmp_path: Path) -> None:
    assert "instruments.analyzer.sim.t99: unknown key" in refused(
        tmp_path, GOOD.replace('t90 = "20 s"', 't99 = "20 s"', 1)
    )
    assert "instruments.analyzer.sim.gas_source" in refused(
        tmp_path, GOOD.replace('gas_source = "dilutor"', 'gas_source = "mfc"', 1)
    )


def test_real_bench_needs_addresses(tmp_path: Path) -> None:
    text = 'name = "real"\n[instruments.env]\nrole = "environment_monitor"\ndriver = "modbus-env"\n'
    assert "instruments.env.address: missing" in refused(tmp_path, text)
    ok = tmp_path / "real.toml"
    ok.write_text(text + 'address = "tcp://10.0.0.5:502"\n')
    bench = load_bench(ok)
    assert not bench.simulated
    assert bench.time_scale == 1.0
    assert bench.instruments["env"].address == "tcp://10.0.0.5:502"
