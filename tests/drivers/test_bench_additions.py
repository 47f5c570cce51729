"""Bench-file keys the run planner reads: asset tags, manual equipment, materials, identities."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from drivers.bench import IdentitySpec, load_bench, open_instruments
from drivers.errors import BenchFileError
from drivers.sim import SimulatedBench

EXAMPLES = Path(__file__).parents[2] / "examples" / "benches"
GOOD = (Path(__file__).parent / "data" / "all-instruments.toml").read_text()

REAL = """name = "real"
[instruments.env]
role = "environment_monitor"
driver = "modbus-env"
address = "tcp://10.0.0.5:502"
"""


def refused(tmp_path: Path, text: str) -> str:
    path = tmp_path / "bench.toml"
    path.write_text(text)
    with pytest.raises(BenchFileError) as err:
        load_bench(path)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith("bench.toml: ")
    return message


def loaded(tmp_path: Path, text: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "bench.toml"
    path.write_text(text)
    return load_bench(path)


# The demo lab's register (lims/services/demo.py): equipment asset tags and items under test.
DEMO_TAGS = {
    "gas-analyzer.toml": {"dilutor": "STD-GD-01", "environment": "STD-ENV-01"},
    "ch4-analyzer.toml": {"dilutor": "STD-GD-01", "environment": "STD-ENV-01"},
    "gas-flowmeter.toml": {"standard": "STD-FLOW-01", "environment": "STD-ENV-01"},
    "ac-pile.toml": {"tester": "STD-EV-01", "load": "STD-EV-02", "environment": "STD-ENV-01"},
    "dc-charger.toml": {"tester": "STD-EV-01", "load": "STD-EV-02", "environment": "STD-ENV-01"},
    "elemental-analyzer.toml": {"balance": "STD-BAL-01", "environment": "STD-ENV-01"},
}
SIMULATED_ITEMS = {
    "gas-analyzer.toml": ("analyzer", "Sim Instruments", "CA-2000", "CA2000-0001"),
    "ch4-analyzer.toml": ("analyzer", "Sim Instruments", "MA-100", "MA100-0042"),
    "elemental-analyzer.toml": ("ea", "Sim Lab", "EA-4", "EA4-3141"),
}
DECLARED_ITEMS = {
    "gas-flowmeter.toml": ("meter", "TFM-50", "TFM50-7788"),
    "ac-pile.toml": ("pile", "AC-7K", "AC7K-2301"),
    "dc-charger.toml": ("pile", "DC-60K", "DC60K-1203"),
}


@pytest.mark.parametrize("file", sorted(DEMO_TAGS))
def test_examples_name_the_demo_labs_equipment(file: str) -> None:
    bench = load_bench(EXAMPLES / file)
    tags = {n: c.asset_tag for n, c in bench.instruments.items() if c.asset_tag is not None}
    assert tags == DEMO_TAGS[file]
    if file in DECLARED_ITEMS:
        name, model, serial = DECLARED_ITEMS[file]
        assert not bench.instruments[name].has_driver
        assert bench.instruments[name].declared == IdentitySpec(None, model, serial)


def test_elemental_bench_has_balance_and_materials() -> None:
    bench = load_bench(EXAMPLES / "elemental-analyzer.toml")
    balance = bench.instruments["balance"]
    assert (balance.role, balance.driver, balance.has_driver) == ("balance", "manual", False)
    assert bench.materials == {"acetanilide": "RM-ACET-01", "sulfanilamide": "RM-SULF-01"}


@pytest.mark.parametrize("file", sorted(SIMULATED_ITEMS))
def test_simulated_item_answers_its_declared_identity(file: str) -> None:
    bench = load_bench(EXAMPLES / file)
    name, manufacturer, model, serial = SIMULATED_ITEMS[file]
    with SimulatedBench(bench) as sim:
        drivers = open_instruments(bench, sim.addresses)
        try:
            ident = drivers[name].identify()
        finally:
            for d in drivers.values():
                d.close()
    assert (ident.manufacturer, ident.model, ident.serial) == (manufacturer, model, serial)


def test_manual_equipment_in_any_known_role(tmp_path: Path) -> None:
    text = REAL + (
        '[instruments.thermo]\nrole = "thermometer"\ndriver = "manual"\nasset_tag = "STD-T-01"\n'
        '[instruments.bal]\nrole = "balance"\ndriver = "manual"\n'
    )
    bench = loaded(tmp_path, text)
    assert bench.instruments["thermo"].asset_tag == "STD-T-01"
    assert not bench.instruments["bal"].has_driver
    assert bench.instruments["bal"].address is None
    unknown = text.replace('role = "balance"', 'role = "scale"')
    assert "instruments.bal.role: unknown role 'scale'" in refused(tmp_path, unknown)


def test_manual_equipment_on_a_simulated_bench_has_no_physics(tmp_path: Path) -> None:
    manual = '\n[instruments.bal]\nrole = "balance"\ndriver = "manual"\n'
    bench = loaded(tmp_path, GOOD + manual)
    with SimulatedBench(bench) as sim:
        assert "bal" not in sim.addresses
        assert sim.observables("bal") == ["time"]
    msg = refused(tmp_path, GOOD + manual + '[instruments.bal.sim]\nx = "1 g"\n')
    assert "instruments.bal.sim: an instrument read by eye has no simulated physics" in msg


def test_physics_cannot_reference_manual_equipment(tmp_path: Path) -> None:
    text = GOOD.replace('gas_source = "dilutor"', 'gas_source = "eye"', 1) + (
        '\n[instruments.eye]\nrole = "gas_dilutor"\ndriver = "manual"\n'
        '[[instruments.eye.cylinders]]\nport = 1\nid = "Z"\nzero = true\nmatrix = "N2"\n'
    )
    assert "instruments.analyzer.sim.gas_source: 'eye' is not an instrument" in refused(
        tmp_path, text
    )


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("asset_tag", '""', "instruments.env.asset_tag: expected a non-empty string, got ''"),
        ("asset_tag", "7", "instruments.env.asset_tag: expected a non-empty string, got 7"),
        ("model", '"X1"', "instruments.env.model: an instrument with a driver tells"),
    ],
)
def test_bad_instrument_keys(tmp_path: Path, key: str, value: str, expected: str) -> None:
    assert expected in refused(tmp_path, REAL + f"{key} = {value}\n")


def test_materials_checked(tmp_path: Path) -> None:
    assert "materials.acetanilide: expected a non-empty string, got 3" in refused(
        tmp_path, "materials = { acetanilide = 3 }\n" + REAL
    )
    assert "materials: expected a table" in refused(tmp_path, 'materials = "RM-1"\n' + REAL)
    bench = loaded(tmp_path, 'materials = { benzoic_acid = " RM-BA-01 " }\n' + REAL)
    assert bench.materials == {"benzoic_acid": "RM-BA-01"}


def test_declared_identity_only_where_nothing_answers(tmp_path: Path) -> None:
    meter = GOOD.replace(
        'driver = "pulse-output"\n', 'driver = "pulse-output"\nmodel = "TFM-50"\nserial = ""\n'
    )
    assert "instruments.meter.serial: expected a non-empty string" in refused(tmp_path, meter)
    sim_on_meter = GOOD.replace(
        'k_factor = "10 1/L"', 'k_factor = "10 1/L"\nidentity = { model = "TFM-50" }'
    )
    assert "instruments.meter.sim.identity: a driverless instrument answers nothing" in refused(
        tmp_path, sim_on_meter
    )


def test_sim_identity_checked(tmp_path: Path) -> None:
    def with_identity(identity: str) -> str:
        return GOOD.replace('t90 = "20 s"', f't90 = "20 s"\nidentity = {identity}', 1)

    assert "instruments.analyzer.sim.identity.firmware: unknown key" in refused(
        tmp_path, with_identity('{ firmware = "2" }')
    )
    assert "instruments.analyzer.sim.identity: expected one or more of" in refused(
        tmp_path, with_identity("{}")
    )
    # a field the protocol cannot carry is refused when the simulator starts
    bench = loaded(tmp_path, with_identity('{ manufacturer = "Sim, Inc." }'))
    with pytest.raises(BenchFileError, match=r"sim\.identity\.manufacturer: no commas"):
        SimulatedBench(bench).start()
    one = replace(bench, instruments={"dilutor": bench.instruments["dilutor"]})
    spaced = replace(
        one.instruments["dilutor"], sim_identity=IdentitySpec("Sim Gas", "GD-10", "GD10-7")
    )
    with pytest.raises(BenchFileError, match="no spaces in an Alicat M"):
        SimulatedBench(replace(one, instruments={"dilutor": spaced})).start()
