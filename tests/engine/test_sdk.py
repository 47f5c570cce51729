"""Regulation tables, the procedure SDK and registry, stability detection, events."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lims.engine import (
    EventBus,
    Message,
    Parameter,
    ProcedureDefinitionError,
    ProcedureRegistry,
    PromptRequested,
    RegulationTableError,
    StabilityCriteria,
    StabilityDetector,
    bench_auto_answerer,
    discover_procedures,
    load_regulation_table,
)
from lims.units import ureg
from tests.engine.sample_procedure import SampleGasProcedure

HERE = Path(__file__).resolve().parent
GOOD = (HERE / "sample_released.toml").read_text(encoding="utf-8")


def _table(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "reg.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_table_loads_values_with_units_and_release() -> None:
    t = load_regulation_table(HERE / "sample_released.toml")
    assert (t.procedure, t.version, t.release.status, t.release.released_by) == (
        "test-gas",
        "T1",
        "released",
        "chen",
    )
    assert t.limit("mpe") == ureg.Quantity(2, "percent_FS")
    assert t.repeat_count("indication") == 3
    assert [p.nominal for p in t.points] == [ureg("400 umol/mol"), ureg("1000 umol/mol")]
    assert t.environment["temperature"].contains(ureg.Quantity(20, "degC"))
    assert not t.environment["temperature"].contains(ureg.Quantity(25.5, "degC"))
    assert t.environment["humidity"].contains(ureg.Quantity(10, "percent"))
    assert len(t.sha256) == 64
    draft = load_regulation_table(HERE / "sample_draft.toml")
    assert not draft.release.released
    assert draft.has_unverified
    assert draft.unverified_keys() == ["limits.mpe"]


@pytest.mark.parametrize(
    ("old", "new", "where", "what"),
    [
        ('mpe = "2 %FS"', 'mpe = "2 parsecs_of_nothing"', "limits.mpe", "unknown unit"),
        ('mpe = "2 %FS"', "mpe = 2", "limits.mpe", "expected a quantity"),
        (
            'mpe = "2 %FS"',
            'mpe = { value = "2 %FS", unverified = true }',
            "release.status",
            "unverified values: limits.mpe",
        ),
        ("indication = 3", "indication = 0", "repeats.indication", "whole number"),
        ('rule = "JJF1094-2002"', 'rule = "coin-toss"', "decision.rule", "unknown decision rule"),
        ('status = "released"', 'status = "maybe"', "release.status", "'draft' or 'released'"),
        ('released_by = "chen"\n', "", "release.released_by", "non-empty string"),
        ('min = "15 degC"', 'min = "35 degC"', "environment.temperature", "above max"),
        (
            'nominal = "1000 umol/mol"',
            'nominal = "1000 umol/mol"\ncolour = 1',
            "points[1].colour",
            "unknown key",
        ),
        ('[[points]]\nname = "P2"', '[[points]]\nname = "P1"', "points", "duplicate"),
        ("[limits]", "[limitz]", "limitz", "unknown key"),
    ],
)
def test_bad_table_names_file_and_key(
    tmp_path: Path, old: str, new: str, where: str, what: str
) -> None:
    assert old in GOOD
    path = _table(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(RegulationTableError) as info:
        load_regulation_table(path)
    msg = str(info.value)
    assert msg.startswith(f"reg.toml: {where}: "), msg
    assert what in msg


def test_malformed_or_missing_table(tmp_path: Path) -> None:
    with pytest.raises(RegulationTableError, match=r"reg\.toml: malformed TOML"):
        load_regulation_table(_table(tmp_path, "procedure = = 1"))
    with pytest.raises(RegulationTableError, match=r"nope\.toml: file not found"):
        load_regulation_table(tmp_path / "nope.toml")


def test_parameters_are_validated() -> None:
    p = SampleGasProcedure()
    assert p.parse_parameters({}) == {"span": ureg("2000 umol/mol")}
    assert p.parse_parameters({"span": "0.5 %vol"})["span"].to("umol/mol").magnitude == 5000
    with pytest.raises(ValueError, match=r"parameter 'span'.*wrong dimension"):
        p.parse_parameters({"span": "2 kPa"})
    with pytest.raises(ValueError, match="unknown parameter 'colour'"):
        p.parse_parameters({"colour": "red"})
    with pytest.raises(ValueError, match="required"):
        Parameter("x", "X", like="s").parse(None)


def test_registry_discovers_and_refuses_duplicates() -> None:
    reg = discover_procedures("tests.engine")
    assert reg.ids() == ["test-gas"]
    assert reg.get("test-gas") is SampleGasProcedure
    with pytest.raises(KeyError, match=r"unknown procedure 'x'.*test-gas"):
        reg.get("x")
    other = type("Other", (SampleGasProcedure,), {"id": "test-gas", "__module__": "elsewhere"})
    with pytest.raises(ProcedureDefinitionError, match="two procedures with id 'test-gas'"):
        ProcedureRegistry([SampleGasProcedure, other])
    assert discover_procedures("no_such_package_here").ids() == []


def test_procedure_must_match_its_table(tmp_path: Path) -> None:
    path = _table(tmp_path, GOOD.replace('procedure = "test-gas"', 'procedure = "other"'))
    with pytest.raises(ProcedureDefinitionError, match="table is for procedure 'other'"):
        SampleGasProcedure(load_regulation_table(path))


def _criteria(**kw: Any) -> StabilityCriteria:
    base: dict[str, Any] = {
        "timeout": ureg("100 s"),
        "interval": ureg("1 s"),
        "window": ureg("5 s"),
        "max_slope": ureg("0.1 umol/mol/s"),
        "max_spread": ureg("0.5 umol/mol"),
    }
    base.update(kw)
    return StabilityCriteria(**base)


def test_stability_needs_a_full_flat_window() -> None:
    det = StabilityDetector(_criteria())
    # a ramp of 0.2 µmol/mol per s: slope above the limit, never stable
    assert not any(det.add(t, ureg.Quantity(100 + 0.2 * t, "umol/mol")) for t in range(20))
    assert det.slope is not None
    assert det.slope.to("umol/mol/s").magnitude == pytest.approx(0.2)
    det = StabilityDetector(_criteria())
    flags = [det.add(t, ureg.Quantity(100 + (0.1 if t % 2 else 0), "umol/mol")) for t in range(8)]
    # stable only once the samples span the 5 s window (t = 5 is the 6th sample)
    assert flags == [False] * 5 + [True] * 3
    # a jump inside the window breaks the spread limit
    assert not det.add(8, ureg.Quantity(101, "umol/mol"))
    assert det.spread is not None
    assert det.spread.magnitude == pytest.approx(1.0)


def test_stability_criteria_are_checked() -> None:
    with pytest.raises(ValueError, match="max_slope"):
        _criteria(max_slope=ureg("0.1 umol/mol"))
    with pytest.raises(ValueError, match="either 'fixed'"):
        StabilityCriteria(timeout=ureg("1 s"), interval=ureg("1 s"))
    with pytest.raises(ValueError, match="time Quantity"):
        _criteria(timeout=ureg("1 m"))
    assert StabilityCriteria(timeout=ureg("1 s"), interval=ureg("1 s"), fixed=ureg("30 s"))


def test_event_bus_survives_a_broken_subscriber() -> None:
    bus = EventBus()
    got: list[Any] = []

    def broken(event: Any) -> None:
        raise RuntimeError("listener bug")

    bus.subscribe(broken)
    unsubscribe = bus.subscribe(got.append)
    bus.publish(Message(1, "hello"))
    bus.publish(Message(1, "again"))
    texts = [e.text for e in got]
    assert texts[0] == "hello"
    assert "listener bug" in texts[1]
    assert texts[2] == "again"
    unsubscribe()
    bus.publish(Message(1, "gone"))
    assert len(got) == 3


class _Sim:
    def __init__(self) -> None:
        self.actions: list[tuple[str, str, dict[str, str]]] = []

    def peek(self, instrument: str, observable: str) -> Any:
        return ureg.Quantity(1999.5, "umol/mol")

    def act(self, instrument: str, action: str, **kwargs: str) -> None:
        self.actions.append((instrument, action, kwargs))


def test_bench_auto_answers() -> None:
    from drivers.bench import AutoAnswer

    sim = _Sim()
    auto = {
        "literal": AutoAnswer(literal="2000 umol/mol"),
        "display": AutoAnswer(peek=("analyzer", "display")),
        "connect": AutoAnswer(act=("dilutor", "connect", {"port": "2"})),
    }
    answer = bench_auto_answerer(auto, sim)

    def prompt(key: str) -> PromptRequested:
        return PromptRequested(1, 1, key, "zh", "en", "value")

    assert answer(prompt("literal")) == "2000 umol/mol"
    shown = answer(prompt("display"))
    assert ureg(str(shown)) == ureg.Quantity(1999.5, "umol/mol")
    assert answer(prompt("connect")) is True
    assert sim.actions == [("dilutor", "connect", {"port": "2"})]
    assert answer(prompt("unknown")) is None
