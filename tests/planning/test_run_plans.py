"""Run plans from the lab's records: the item decides, the bench must fit, everything used
is traced, and the certificate states only what the run did.

Expected values are computed here from the item as registered and the regulation table
read as TOML, never from the plan the code builds.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from lims.db import Database
from lims.models import (
    Certificate,
    Equipment,
    ReferenceMaterial,
    Result,
    Run,
    RunStatus,
    WorkOrderItem,
)
from lims.models.enums import ReferenceMaterialStatus
from lims.services.certificates import draft_certificate
from lims.services.planning import ParameterSource, PlanError
from lims.services.planning.service import DeviationRequest, PlanRequest, plan_run
from lims.services.runs import SilentWatcher, execute_run
from lims.units import parse_quantity
from tests.certificate_service.builder import lab_database, user

ROOT = Path(__file__).resolve().parents[2]
BENCHES = ROOT / "examples" / "benches"
PROCEDURES = ROOT / "procedures"


@pytest.fixture
def lab(db_url: str) -> Iterator[Database]:
    """The demo lab with signing keys, on SQLite and PostgreSQL."""
    database = lab_database(db_url)
    try:
        yield database
    finally:
        database.dispose()


def _item(db: Database, procedure_id: str) -> int:
    with db.read() as s:
        return int(
            s.scalars(
                select(WorkOrderItem.id).where(WorkOrderItem.procedure_id == procedure_id)
            ).one()
        )


def _runs(db: Database) -> int:
    with db.read() as s:
        return int(s.scalar(select(func.count(Run.id))) or 0)


def _run(db: Database, item_id: int, bench: str, **kwargs: Any) -> Any:
    return execute_run(
        db,
        bench_path=BENCHES / bench,
        operator="zhang",
        item_id=item_id,
        auto=True,
        watcher=SilentWatcher(),
        **kwargs,
    )


def _expected_flows(qmin: float, qmax: float) -> list[tuple[str, float]]:
    """JJG 1037 points from the table file: nominal × qmin, qt or qmax, inside the range,
    none within 2 % of an earlier one."""
    table = tomllib.loads((PROCEDURES / "jjg1037_gas_flowmeter" / "jjg1037.toml").read_text())
    ratio = table["limits"]["qt_ratio"]
    qt = qmax * float(ratio["value"] if isinstance(ratio, dict) else ratio)
    out: list[tuple[str, float]] = []
    for p in table["points"]:
        base = {"qmin": qmin, "qt": qt}.get(p["name"], qmax)
        q = base * float(p["nominal"])
        if not qmin * (1 - 1e-9) <= q <= qmax * (1 + 1e-9):
            continue
        if any(abs(q - other) / other < 0.02 for _, other in out):
            continue
        out.append((p["name"], q))
    return out


def test_flowmeter_points_lie_in_the_items_range_and_include_qmin(lab: Database) -> None:
    item_id = _item(lab, "jjg1037-gas-flowmeter")
    with lab.read() as s:
        eq = s.get(WorkOrderItem, item_id).equipment  # type: ignore[union-attr]
        qmin, qmax = float(eq.range_min), float(eq.range_max)
    assert (qmin, qmax) == (0.5, 10.0)  # the demo item as registered
    planned = plan_run(lab, PlanRequest(item_id, BENCHES / "gas-flowmeter.toml", "zhang"))
    expected = _expected_flows(qmin, qmax)
    got = [
        (pt.key, parse_quantity(pt.nominal).to("m**3/h").magnitude) for pt in planned.plan.points
    ]
    assert [k for k, _ in got] == [k for k, _ in expected]
    for (_, q), (_, e) in zip(got, expected, strict=True):
        assert q == pytest.approx(e, rel=1e-12)
    assert got[0] == ("qmin", pytest.approx(qmin))
    assert all(qmin <= q <= qmax for _, q in got)
    sources = {p.name: p.source for p in planned.plan.parameters}
    assert sources["qmin"] is sources["qmax"] is sources["accuracy_class"] is ParameterSource.ITEM
    assert planned.plan.parameter("accuracy_class").text == "1.0"  # type: ignore[union-attr]
    assert sources["qt"] is ParameterSource.TABLE


def test_flowmeter_class_comes_from_the_item_and_the_certificate_agrees(lab: Database) -> None:
    item_id = _item(lab, "jjg1037-gas-flowmeter")
    with lab.write(actor="system:test", reason="item re-registered as class 1.5") as s:
        eq = s.get(WorkOrderItem, item_id).equipment  # type: ignore[union-attr]
        eq.specs = {**eq.specs, "accuracy_class": "1.5"}
    outcome = _run(lab, item_id, "gas-flowmeter.toml")
    assert outcome.status is RunStatus.COMPLETED, outcome.reason
    table = tomllib.loads((PROCEDURES / "jjg1037_gas_flowmeter" / "jjg1037.toml").read_text())
    factor = float(table["limits"]["mpe_factor_below_qt"]["value"])
    qt = 10.0 * float(table["limits"]["qt_ratio"]["value"])
    for r in outcome.results:
        if r.characteristic.value != "indication_error":
            continue
        q = r.point.nominal.to("m**3/h").magnitude
        expected_mpe = 1.5 * (factor if q < qt * (1 - 1e-9) else 1.0)
        assert r.limit.value.to("percent").magnitude == pytest.approx(expected_mpe)
    info = draft_certificate(lab, user(lab, "zhang"), outcome.run_id)
    with lab.read() as s:
        content = s.scalars(
            select(Certificate.content).where(Certificate.number == info.number)
        ).one()
    assert content["item"]["measuring_range"] == "(0.5 – 10) m³/h"
    points = [
        parse_quantity(f"{row['point']['value']} {row['point']['unit']}").to("m**3/h").magnitude
        for section in content["sections"]
        for row in section["rows"]
    ]
    assert points
    assert min(points) == pytest.approx(0.5)
    assert max(points) <= 10.0


def test_an_operator_value_contradicting_the_item_needs_a_quality_managers_deviation(
    lab: Database,
) -> None:
    item_id = _item(lab, "jjg1037-gas-flowmeter")
    bench = BENCHES / "gas-flowmeter.toml"
    with pytest.raises(PlanError, match=r"the item states 10 m³/h.*deviation"):
        plan_run(lab, PlanRequest(item_id, bench, "zhang", values={"qmax": "25 m**3/h"}))
    # the same value as the item is no contradiction
    plan_run(lab, PlanRequest(item_id, bench, "zhang", values={"qmax": "10 m**3/h"}))
    with pytest.raises(PlanError, match="only an active quality manager"):
        plan_run(
            lab,
            PlanRequest(
                item_id,
                bench,
                "zhang",
                deviations=[DeviationRequest("qmax", "12 m**3/h", "customer asked", "zhang")],
            ),
        )
    planned = plan_run(
        lab,
        PlanRequest(
            item_id,
            bench,
            "zhang",
            deviations=[DeviationRequest("qmax", "12 m**3/h", "nameplate reads 12 m³/h", "chen")],
        ),
    )
    qmax = planned.plan.parameter("qmax")
    assert qmax is not None
    assert qmax.source is ParameterSource.OVERRIDE
    (dev,) = planned.plan.deviations
    assert (dev.name, dev.approved_by, dev.reason) == ("qmax", "chen", "nameplate reads 12 m³/h")
    assert max(parse_quantity(p.nominal).magnitude for p in planned.plan.points) == 12.0


def test_elemental_certificate_lists_every_material_and_the_balance(lab: Database) -> None:
    item_id = _item(lab, "elemental-analyzer-cal")
    outcome = _run(lab, item_id, "elemental-analyzer.toml")
    assert outcome.status is RunStatus.COMPLETED, outcome.reason
    info = draft_certificate(lab, user(lab, "zhang"), outcome.run_id)
    with lab.read() as s:
        content = s.scalars(
            select(Certificate.content).where(Certificate.number == info.number)
        ).one()
        bench = tomllib.loads((BENCHES / "elemental-analyzer.toml").read_text())
        balance = bench["instruments"]["balance"]["asset_tag"]
        registered = s.scalars(
            select(Equipment.asset_tag).where(Equipment.asset_tag == balance)
        ).one()
    listed = " ".join(std["identifier"] for std in content["standards"])
    for tag in bench["materials"].values():
        assert tag in listed
    assert "STD-EA-001" in listed  # the balance's standard, its only member on the bench
    assert "STD-GAS-001" not in listed  # not used: its dilutor is not on this bench
    assert registered == "STD-BAL-01"


@pytest.mark.parametrize("state", ["disposed", "expired", "exhausted"])
def test_an_unusable_check_substance_refuses_the_run(lab: Database, state: str) -> None:
    item_id = _item(lab, "elemental-analyzer-cal")
    with lab.write(actor="system:test", reason=f"acetanilide lot {state}") as s:
        rm = s.scalars(select(ReferenceMaterial).where(ReferenceMaterial.tag == "RM-ACET-01")).one()
        if state == "disposed":
            rm.status = ReferenceMaterialStatus.DISPOSED
        elif state == "expired":
            rm.expires_on = rm.received_on
        else:
            rm.remaining = 10.0  # below the minimum of 50 mg
    outcome = _run(lab, item_id, "elemental-analyzer.toml")
    assert outcome.status is RunStatus.REFUSED
    assert "RM-ACET-01" in outcome.reason


def test_a_bench_that_does_not_fit_is_refused_before_any_run(lab: Database) -> None:
    before = _runs(lab)
    item_id = _item(lab, "jjg635")
    with pytest.raises(PlanError, match="does not fit procedure jjg635"):
        plan_run(lab, PlanRequest(item_id, BENCHES / "ac-pile.toml", "zhang"))
    with pytest.raises(PlanError, match="does not fit"):
        _run(lab, item_id, "ac-pile.toml")
    assert _runs(lab) == before


def test_an_instrument_that_is_not_the_item_is_refused_in_preflight(
    lab: Database, tmp_path: Path
) -> None:
    """The simulated analyzer answers another serial than the item's: no run row."""
    text = (BENCHES / "gas-analyzer.toml").read_text()
    tomled = tomllib.loads(text)
    serial = tomled["instruments"]["analyzer"]["sim"]["identity"]["serial"]
    bench = tmp_path / "other-analyzer.toml"
    bench.write_text(text.replace(f'"{serial}"', '"CA2000-9999"'))
    before = _runs(lab)
    with pytest.raises(PlanError, match="serial CA2000-9999 ≠ item CA2000-0001"):
        _run(lab, _item(lab, "jjg635"), str(bench))
    assert _runs(lab) == before


def test_a_bench_cylinder_value_that_disagrees_with_the_register_is_refused(
    lab: Database, tmp_path: Path
) -> None:
    text = (BENCHES / "gas-analyzer.toml").read_text()
    bench = tmp_path / "gas.toml"
    bench.write_text(text.replace('certified = "1000 umol/mol"', 'certified = "1010 umol/mol"'))
    with pytest.raises(
        PlanError, match="certified value 1010 µmol/mol, the register 1000 µmol/mol"
    ):
        plan_run(lab, PlanRequest(_item(lab, "jjg635"), bench, "zhang"))


def test_a_run_finishes_under_the_table_it_started_with(
    lab: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Interrupted (refused before P50: its cylinder was disposed), then a new table version
    with another MPE is shipped and released: the run resumes under its own table."""
    from lims.engine import StepFinished, grant_override
    from lims.results_legacy import record_of
    from procedures.jjg635 import Jjg635

    item_id = _item(lab, "jjg635")
    original = Jjg635().table

    class Disposer(SilentWatcher):
        def on_event(self, event: Any) -> None:
            super().on_event(event)
            if isinstance(event, StepFinished) and event.step == "P20":
                with lab.write(actor="chen", reason="cylinder dropped in the lab") as s:
                    rm = s.scalars(
                        select(ReferenceMaterial).where(ReferenceMaterial.tag == "RM-CO2-1000")
                    ).one()
                    rm.status = ReferenceMaterialStatus.DISPOSED

    first = execute_run(
        lab,
        bench_path=BENCHES / "gas-analyzer.toml",
        operator="zhang",
        item_id=item_id,
        auto=True,
        watcher=Disposer(),
    )
    assert first is not None
    assert first.status is RunStatus.REFUSED, first.reason
    run_id = first.run_id
    # a new version of the table: another MPE, released by the lab
    text = (PROCEDURES / "jjg635" / "jjg635.toml").read_text("utf-8")
    newer = tmp_path / "jjg635-2026.3.toml"
    newer.write_text(
        text.replace(f'version = "{original.version}"', 'version = "2026.3"')
        .replace(", unverified = true", "")
        .replace('mpe = { value = "2 %FS"', 'mpe = { value = "1.5 %FS"')
        .replace(
            '[release]\nstatus = "draft"',
            '[release]\nstatus = "released"\nreleased_by = "chen"\n'
            'released_at = 2026-12-01T08:00:00Z\nreason = "checked against the official text"',
        ),
        "utf-8",
    )
    monkeypatch.setattr(Jjg635, "table_file", str(newer))
    assert Jjg635().table.version == "2026.3"
    new_plan = plan_run(lab, PlanRequest(item_id, BENCHES / "gas-analyzer.toml", "zhang"))
    assert new_plan.plan.table_version == "2026.3"  # new runs take the new table
    grant_override(
        lab,
        run_id,
        "reference_material:RM-CO2-1000",
        "an identical cylinder of the same lot replaces it",
        "chen",
    )
    resumed = execute_run(
        lab,
        bench_path=BENCHES / "gas-analyzer.toml",
        operator="zhang",
        resume_run=run_id,
        auto=True,
        watcher=SilentWatcher(),
    )
    assert resumed is not None
    assert resumed.status is RunStatus.COMPLETED, resumed.reason
    with lab.read() as s:
        results = [record_of(r) for r in s.scalars(select(Result).where(Result.run_id == run_id))]
        run = s.get(Run, run_id)
        assert run is not None
        assert run.plan["table_version"] == original.version
        assert {v["regulation_table"]["version"] for v in [run.provenance]} == {original.version}
    mpes = {
        r.limit.value.to("percent_FS").magnitude
        for r in results
        if r.limit is not None and r.limit.table_key == "limits.mpe"
    }
    assert mpes == {2.0}  # every point judged under the table the run started with
    info = draft_certificate(lab, user(lab, "zhang"), run_id)
    with lab.read() as s:
        content = s.scalars(
            select(Certificate.content).where(Certificate.number == info.number)
        ).one()
    assert content["method"]["table_version"] == original.version
    assert content["method"]["table_has_unverified_values"] is True


def test_the_command_line_and_the_desktop_refuse_an_unfit_bench_alike(
    lab: Database,
    db_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from tests.lims._cli import clean_env, run_main
    from ui.bench_session import plan_run as prepare_in_the_desktop

    before = _runs(lab)
    pw = tmp_path / "pw"
    pw.write_text("Bench#2026-zw\n")
    args = ["run", "jjg635", "--bench", str(BENCHES / "ac-pile.toml"), "--item", "1"]
    r = run_main(
        [*args, "--operator", "zhang", "--password-file", str(pw), "--auto"],
        clean_env(tmp_path, LIMS_DATABASE_URL=db_url),
        monkeypatch,
        capsys,
    )
    assert r.code == 12, r.err
    assert len(r.err.strip().splitlines()) == 1
    assert "does not fit procedure jjg635" in r.err
    with pytest.raises(PlanError, match="does not fit procedure jjg635"):
        prepare_in_the_desktop(
            lab, user(lab, "zhang"), _item(lab, "jjg635"), BENCHES / "ac-pile.toml", date.today()
        )
    assert _runs(lab) == before
