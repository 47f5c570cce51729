"""``lims run`` end to end through the command line, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lims.cli.main import app
from lims.db import Database
from lims.security import PasswordPolicy
from lims.services.demo import DEMO_USERS, seed_demo
from tests.procedures.gas_bench import analyzer_bench
from tests.procedures.simrun import derive_bench

runner = CliRunner()


def _password(tmp: Path, user: str) -> Path:
    pw = tmp / f"{user}.pw"
    pw.write_text(next(u.password for u in DEMO_USERS if u.username == user) + "\n")
    return pw


@pytest.fixture
def cli_lab(db: Database, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Database:
    from datetime import date

    with db.write(actor="test-setup") as s:
        seed_demo(s, PasswordPolicy(), date.today())
    monkeypatch.setenv("LIMS_DATABASE_URL", db_url)
    monkeypatch.setenv("LIMS_DATA_DIR", str(tmp_path))
    return db


def test_gas_analyzer_cal_json_shows_every_result_with_units(
    cli_lab: Database, tmp_path: Path
) -> None:
    bench = analyzer_bench(tmp_path, "ch4-analyzer", "ch4", time_scale=1000)
    args = ["run", "gas-analyzer-cal", "--bench", str(bench), "--item", "2"]
    args += ["--operator", "zhang", "--password-file", str(_password(tmp_path, "zhang"))]
    result = runner.invoke(app, [*args, "--auto", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["status"] == "completed"
    points = {r["test_point"] for r in out["results"]}
    assert points == {"zero", "P20", "P50", "P80"}
    errors = [r for r in out["results"] if r["item"] == "indication_error"]
    assert len(errors) == 4
    for r in errors:
        assert r["form"] == "absolute"
        for v in (r["reference"], r["indication"], r["value"], r["U"]["value"]):
            assert set(v) == {"value", "unit"}
            assert v["unit"] == "µmol/mol"
        assert r["U"]["k"] == 2.0
        assert r["limit"] is None  # the item asked for no conformity statement
        assert r["verdict"] == "not_stated"
        assert r["label"]["zh"]
        assert r["label"]["en"]


def test_exit_codes_refused_and_bad_input(cli_lab: Database, tmp_path: Path) -> None:
    bench = analyzer_bench(tmp_path, "gas-analyzer", "co2", time_scale=1000)
    # wang is an approver, not authorized for jjg635: the run is refused (exit 12)
    args = ["run", "jjg635", "--bench", str(bench), "--item", "1", "--operator", "wang"]
    result = runner.invoke(
        app, [*args, "--password-file", str(_password(tmp_path, "wang")), "--auto", "--json"]
    )
    assert result.exit_code == 12, result.output
    out = json.loads(result.stdout)
    assert out["status"] == "refused"
    assert "wang" in out["reason"] or "authoriz" in out["reason"]
    # the wrong procedure for the item: one-line error, exit 2, nothing run
    pw = str(_password(tmp_path, "zhang"))
    args = ["run", "gas-analyzer-cal", "--bench", str(bench), "--item", "1"]
    result = runner.invoke(app, [*args, "--operator", "zhang", "--password-file", pw, "--auto"])
    assert result.exit_code != 0
    assert "asks for procedure 'jjg635'" in str(result.exception) + result.output


def test_auto_is_refused_on_a_real_bench(cli_lab: Database, tmp_path: Path) -> None:
    from lims.services.planning import PlanError
    from lims.services.runs import SilentWatcher, execute_run

    real = tmp_path / "real.toml"
    real.write_text(
        'name = "real gas bench"\n'
        '[instruments.analyzer]\nrole = "gas_analyzer"\ndriver = "scpi-gas-analyzer"\n'
        'address = "TCPIP::192.0.2.1::5025::SOCKET"\n'
    )
    with pytest.raises(PlanError, match="only on a simulated bench"):
        execute_run(
            cli_lab,
            procedure_id="jjg635",
            bench_path=real,
            operator="zhang",
            item_id=1,
            auto=True,
            watcher=SilentWatcher(),
        )


#: procedure → (example bench, work-order item of the demo lab, time_scale for the test)
EVERY = {
    "jjg635": ("gas-analyzer", 1, 1000),
    "gas-analyzer-cal": ("ch4-analyzer", 2, 1000),
    "jjg1037-gas-flowmeter": ("gas-flowmeter", 3, 1500),
    "jjg1148-ac-pile": ("ac-pile", 4, 3000),
    "jjg1149-dc-charger": ("dc-charger", 5, 6000),
    "elemental-analyzer-cal": ("elemental-analyzer", 6, 6000),
}
#: result values that are plain numbers by nature (coverage factor, number of repeats)
PLAIN = {"k", "p", "n"}


@pytest.fixture
def sqlite_cli_lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Database:
    from tests.procedures.gas_bench import demo_lab

    url = f"sqlite:///{tmp_path / 'lims.sqlite3'}"
    db = demo_lab(url)
    monkeypatch.setenv("LIMS_DATABASE_URL", url)
    monkeypatch.setenv("LIMS_DATA_DIR", str(tmp_path))
    return db


@pytest.mark.parametrize("procedure", sorted(EVERY))
def test_json_shows_every_result_value_with_its_unit(
    sqlite_cli_lab: Database, tmp_path: Path, procedure: str
) -> None:
    example, item, scale = EVERY[procedure]
    bench = derive_bench(tmp_path, example, {("", "time_scale"): str(scale)}, procedure)
    args = ["run", procedure, "--bench", str(bench), "--item", str(item), "--operator", "zhang"]
    args += ["--password-file", str(_password(tmp_path, "zhang")), "--auto", "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["status"] == "completed"
    assert out["results"]
    for r in out["results"]:
        assert r["verdict"], r
        values = {
            "value": r["value"],
            "reference": r["reference"],
            "indication": r["indication"],
            **({"limit": r["limit"]["value"]} if r["limit"] else {}),
            **({"U": r["U"]["value"], "k": r["U"]["k"], "p": r["U"]["p"]} if r["U"] else {}),
            **r["extras"],
        }
        for key, v in values.items():
            if v is None or isinstance(v, str):
                continue
            if isinstance(v, dict):
                assert set(v) == {"value", "unit"}, (r["test_point"], key)
                assert isinstance(v["value"], int | float), (r["test_point"], key)
                assert v["unit"], (r["test_point"], key)
            elif isinstance(v, int | float) and not isinstance(v, bool):
                assert key in PLAIN, f"{r['test_point']}/{r['item']}: {key} = {v} has no unit"
