"""``lims demo`` end to end: the demo lab is seeded and every procedure of its work orders
runs on its simulated example bench; the summary lists each run; what ``lims run --json``
prints for each run carries every value with its unit.

The demo is defined on embedded SQLite, so it runs once (SQLite only) for the module.
Expected verdicts and key figures come from the example bench files (injected errors,
clock offsets) and the regulation tables, read here, not from the demo's output.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from lims.db import Database
from lims.models import Result, Run, RunStatus, Verdict, WorkOrderItem
from lims.results import (
    Characteristic,
    ErrorForm,
    Limit,
    LimitKind,
    Point,
    ResultRecord,
    Uncertainty,
)
from lims.services.demo import DEMO_USERS
from lims.services.demo import PROCEDURE_IDS as LAB_PROCEDURE_IDS
from lims.services.demo_onsite import ONSITE_PROCEDURE_IDS
from lims.services.demo_runs import DEMO_BENCHES, EXAMPLE_BENCHES, key_figure, overall_verdict
from lims.services.runs import RunOutcome, collect_results, outcome_json
from lims.units import parse_quantity, ureg
from lims.vocabulary import BiText
from tests.lims._cli import clean_env, one_error_line, run_main
from tests.procedures.simrun import derive_bench

LIMS = Path(sys.executable).with_name("lims")
ROOT = Path(__file__).resolve().parents[2]
PROCEDURES = ROOT / "procedures"

PROCEDURE_IDS = (*LAB_PROCEDURE_IDS, *ONSITE_PROCEDURE_IDS)

#: Values of a result that are pure numbers by definition: coverage factor, count.
PURE_NUMBERS = {"k", "p", "n"}


@dataclass(frozen=True)
class Demo:
    """One finished ``lims demo``: its output and its database."""

    code: int
    out: str
    err: str
    data_dir: Path
    db: Database


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """``lims demo`` run once, as the console script, into a fresh data directory."""
    home = tmp_path_factory.mktemp("demo")
    target = home / "lab"
    p = subprocess.run(
        [str(LIMS), "demo", "--headless", "--data-dir", str(target)],
        env=clean_env(home, COLUMNS="250"),
        capture_output=True,
        text=True,
        timeout=900,
    )
    db = Database(f"sqlite:///{target / 'lims.sqlite3'}")
    try:
        yield Demo(p.returncode, p.stdout, p.stderr, target, db)
    finally:
        db.dispose()


def _bench(name: str) -> dict[str, Any]:
    return tomllib.loads((EXAMPLE_BENCHES / name).read_text("utf-8"))


def _table_limit(folder: str, table: str, key: str) -> Any:
    data = tomllib.loads((PROCEDURES / folder / table).read_text("utf-8"))
    value = data["limits"][key]
    return parse_quantity(value if isinstance(value, str) else value["value"])


def _runs(db: Database) -> dict[str, tuple[int, int, RunStatus, int]]:
    """procedure id → (run id, work-order item id, status, number of results)."""
    out = {}
    with db.read() as s:
        for run in s.scalars(select(Run).order_by(Run.id)):
            n = len(list(s.scalars(select(Result.id).where(Result.run_id == run.id))))
            assert run.work_order_item_id is not None
            out[run.procedure_version.procedure_id] = (
                run.id,
                run.work_order_item_id,
                run.status,
                n,
            )
    return out


def _row(out: str, procedure_id: str) -> str:
    rows = [line for line in out.splitlines() if f" {procedure_id} " in line]
    assert len(rows) == 1, (procedure_id, out)
    return rows[0]


def test_demo_runs_every_procedure_and_lists_each(demo: Demo) -> None:
    assert demo.code == 0, demo.err
    runs = _runs(demo.db)
    assert set(runs) == set(PROCEDURE_IDS) == set(DEMO_BENCHES)
    with demo.db.read() as s:
        items = {i.id: i.procedure_id for i in s.scalars(select(WorkOrderItem))}
    for procedure_id, (run_id, item_id, status, n) in runs.items():
        assert status == RunStatus.COMPLETED, procedure_id
        assert items[item_id] == procedure_id
        assert n > 0, procedure_id
        row = _row(demo.out, procedure_id)
        cells = [c.strip() for c in row.split("│")]
        assert cells[2].startswith(f"{item_id} · WO-DEMO-"), row
        assert cells[3] == str(run_id), row
        assert cells[4] == "完成 completed", row
        assert cells[5] == str(n), row
    # the lab summary after the runs counts them
    runs_line = ["runs", str(len(PROCEDURE_IDS))]
    assert any(line.split() == runs_line for line in demo.out.splitlines()), demo.out
    # the progress display went to stderr: one finished task per run
    for procedure_id, (run_id, *_) in runs.items():
        assert f"{procedure_id} " in demo.err
        assert f"run {run_id} completed" in demo.err


def test_demo_verdicts_follow_the_injected_errors(demo: Demo) -> None:
    assert demo.code == 0, demo.err
    verdicts = {pid: _row(demo.out, pid).split("│")[6].strip() for pid in PROCEDURE_IDS}
    # the calibration items agreed no conformity statement (no decision rule)
    assert verdicts["gas-analyzer-cal"] == Verdict.NOT_STATED.label
    assert verdicts["elemental-analyzer-cal"] == Verdict.NOT_STATED.label

    # DC charger: its clock runs `clock_offset` off; a first verification allows clock_first
    dc = _bench("dc-charger.toml")["instruments"]["pile"]["sim"]
    offset = abs(parse_quantity(dc["clock_offset"]).to("s").magnitude)
    limit = _table_limit("jjg1149_dc_charger", "jjg1149.toml", "clock_first").to("s").magnitude
    assert offset - 1 > limit  # both clocks are read to the second
    assert verdicts["jjg1149-dc-charger"] == Verdict.FAIL.label
    row = _row(demo.out, "jjg1149-dc-charger")
    figure = row.split("│")[7].strip()
    assert figure.startswith("max |E|/MPE "), figure
    assert "(时钟 clock: " in figure, figure  # the point by its label, not its key
    ratio = float(figure.split()[2])
    assert (offset - 1) / limit <= ratio <= (offset + 1) / limit

    # AC pile: energy errors and clock offset well inside class 2 and clock_first
    ac = _bench("ac-pile.toml")["instruments"]["pile"]["sim"]
    mpe = _table_limit("jjg1148_ac_pile", "jjg1148.toml", "mpe_class_2").to("percent").magnitude
    clock_limit = _table_limit("jjg1148_ac_pile", "jjg1148.toml", "clock_first").to("s")
    worst = max(abs(parse_quantity(e).to("percent").magnitude) for _, e in ac["errors"])
    assert worst < mpe / 2
    assert abs(parse_quantity(ac["clock_offset"]).to("s")) + parse_quantity("1 s") < clock_limit
    assert verdicts["jjg1148-ac-pile"] == Verdict.PASS.label
    # CO2 analyzer and flowmeter: the example benches inject in-tolerance errors
    assert verdicts["jjg635"] == Verdict.PASS.label
    assert verdicts["jjg1037-gas-flowmeter"] == Verdict.PASS.label
    # on site: the belt scale's span and speed errors are well inside class 0.5 in
    # subsequent verification, the CEMS's gain inside the indication-error limit
    belt = _bench("belt-scale.toml")["instruments"]["belt"]["sim"]
    belt_error = abs(
        (1 + parse_quantity(belt["span_error"]).to("").magnitude)
        * (1 + parse_quantity(belt["speed_error"]).to("").magnitude)
        - 1
    )
    belt_mpe = _table_limit("jjg195_belt_scale", "jjg195.toml", "mpe_first_class_0.5")
    assert belt_error * 100 < belt_mpe.to("percent").magnitude / 2
    assert verdicts["jjg195-belt-scale"] == Verdict.PASS.label
    cems = _bench("co2-cems.toml")["instruments"]["cems"]["sim"]
    cems_limit = _table_limit("hj75_co2_cems", "hj75_co2.toml", "indication_error")
    assert parse_quantity(cems["gain_error"]) < cems_limit / 2
    assert verdicts["hj75-co2-cems"] == Verdict.PASS.label

    # fuel laboratory: the calorimeter's stored energy equivalent is within a fifth of the
    # indication MPE of its true one; the sulfur analyzer's factor × recovery within 1 %
    bomb = _bench("bomb-calorimeter.toml")["instruments"]["calorimeter"]["sim"]
    stored, true = (
        parse_quantity(bomb[k]).to("J/K").magnitude
        for k in ("stored_energy_equivalent", "energy_equivalent")
    )
    mpe = _table_limit("jjg672_bomb_calorimeter", "jjg672.toml", "indication_error")
    assert abs(stored / true - 1) * 100 < mpe.to("percent").magnitude / 5
    assert verdicts["jjg672-bomb-calorimeter"] == Verdict.PASS.label
    sulfur = _bench("sulfur-analyzer.toml")["instruments"]["analyzer"]["sim"]
    gain = float(sulfur["calibration_factor"]) * parse_quantity(sulfur["recovery"]).to("").magnitude
    assert abs(gain - 1) < 0.01
    assert verdicts["jjg1006-sulfur-analyzer"] == Verdict.PASS.label


def _assert_units(out: dict[str, Any], procedure_id: str) -> None:
    assert out["status"] == "completed", procedure_id
    assert out["results"], procedure_id
    for r in out["results"]:
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
            where = f"{procedure_id} {r['test_point']} {r['item']} {key}"
            if isinstance(v, dict):
                assert set(v) == {"value", "unit"}, where
                assert isinstance(v["value"], int | float), where
                assert isinstance(v["unit"], str), where
                assert v["unit"], where
            elif isinstance(v, int | float) and not isinstance(v, bool):
                assert key in PURE_NUMBERS, f"{where}: a number without a unit"


def test_run_json_of_each_demo_run_shows_every_value_with_its_unit(demo: Demo) -> None:
    assert demo.code == 0, demo.err
    for procedure_id, (run_id, _, status, n) in _runs(demo.db).items():
        # what `lims run --json` prints for this run, built by the same functions
        outcome = RunOutcome(run_id, status, "", collect_results(demo.db, run_id))
        out = json.loads(json.dumps(outcome_json(outcome), ensure_ascii=False))
        assert out["run_id"] == run_id
        assert len(out["results"]) == n
        _assert_units(out, procedure_id)
    for procedure_id in ("jjg1148-ac-pile", "jjg1149-dc-charger"):
        run_id = _runs(demo.db)[procedure_id][0]
        payment = next(
            r
            for r in collect_results(demo.db, run_id)
            if r.characteristic is Characteristic.PAYMENT_ERROR
        )
        for key in ("expected_amount", "indicated_amount", "error_amount"):
            assert payment.extra(key).units == ureg.yuan, (procedure_id, key)
        tariff = payment.extra("tariff")
        assert tariff.units == ureg.yuan / ureg.kWh
        sim = _bench(DEMO_BENCHES[procedure_id])["instruments"]["pile"]["sim"]
        assert tariff.magnitude == pytest.approx(float(sim["tariff"]))


def test_lims_run_json_prints_amounts_in_yuan(
    demo: Demo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # the printing path itself, once, on the demo lab (a faster copy of the AC bench)
    assert demo.code == 0, demo.err
    bench = derive_bench(tmp_path, "ac-pile", {}, "ac-copy")
    pw = tmp_path / "pw"
    pw.write_text(next(u.password for u in DEMO_USERS if u.username == "zhang") + "\n")
    item = _runs(demo.db)["jjg1148-ac-pile"][1]
    args = ["run", "jjg1148-ac-pile", "--bench", str(bench), "--item", str(item)]
    args += ["--operator", "zhang", "--password-file", str(pw), "--auto", "--json"]
    r = run_main(args, clean_env(demo.data_dir), monkeypatch, capsys)
    assert r.code == 0, r.err
    out = json.loads(r.out)
    _assert_units(out, "jjg1148-ac-pile")
    payment = next(x for x in out["results"] if x["item"] == "payment_error")
    extras = payment["extras"]
    assert extras["indicated_amount"]["unit"] == "CNY"
    assert extras["tariff"] == {"value": pytest.approx(1.20), "unit": "CNY/kWh"}
    display = next(x for x in out["results"] if x["item"] == "display_error")
    # the expected amount is the standard energy at the item's tariff
    reference = display["reference"]
    assert reference["unit"] == "kWh"
    assert extras["expected_amount"]["value"] == pytest.approx(reference["value"] * 1.20)


def test_no_runs_seeds_only_and_missing_bench_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "no-benches"
    empty.mkdir()
    target = tmp_path / "lab"
    env = clean_env(tmp_path)
    r = run_main(
        ["demo", "--data-dir", str(target), "--benches", str(empty)], env, monkeypatch, capsys
    )
    line = one_error_line(r)
    assert str(empty / "gas-analyzer.toml") in line
    assert "jjg635" in line
    assert not target.exists()  # refused before anything was created

    r = run_main(["demo", "--data-dir", str(target), "--no-runs"], env, monkeypatch, capsys)
    assert r.code == 0, r.err
    assert "示范运行结果" not in r.out
    assert any(line.split() == ["runs", "0"] for line in r.out.splitlines()), r.out


def _result(
    key: str,
    label: tuple[str, str],
    characteristic: Characteristic,
    value: str,
    *,
    limit: str | None = None,
    u: str | None = None,
    verdict: Verdict = Verdict.NOT_STATED,
) -> ResultRecord:
    q = parse_quantity(value)
    fiducial = q.units == ureg.percent_FS
    return ResultRecord(
        point=Point(key, BiText(*label)),
        characteristic=characteristic,
        value=q,
        form=ErrorForm.FIDUCIAL if fiducial else ErrorForm.ABSOLUTE,
        full_scale=parse_quantity("2000 umol/mol") if fiducial else None,
        limit=None if limit is None else Limit(parse_quantity(limit), LimitKind.SYMMETRIC),
        uncertainty=None if u is None else Uncertainty(parse_quantity(u), 2.0),
        verdict=verdict,
    )


def test_overall_verdict_ignores_results_without_a_statement() -> None:
    assert overall_verdict([Verdict.PASS, Verdict.NOT_STATED]) is Verdict.PASS
    assert overall_verdict([Verdict.PASS, Verdict.UNDETERMINED]) is Verdict.UNDETERMINED
    assert overall_verdict([Verdict.UNDETERMINED, Verdict.FAIL]) is Verdict.FAIL
    assert overall_verdict([Verdict.NOT_STATED] * 3) is Verdict.NOT_STATED
    assert overall_verdict([]) is Verdict.NOT_STATED


def test_key_figure_is_the_largest_error_against_its_mpe() -> None:
    results = [
        # 12 µmol/mol of 2000 = 0.6 %FS against ±2 %FS: 0.30
        _result(
            "P50",
            ("50 %FS 点", "50 %FS point"),
            Characteristic.INDICATION_ERROR,
            "0.6 %FS",
            limit="2 %FS",
            verdict=Verdict.PASS,
        ),
        # 3 s against ±5 s: 0.60, the largest
        _result(
            "clock",
            ("时钟", "clock"),
            Characteristic.CLOCK_ERROR,
            "-3 s",
            limit="5 s",
            verdict=Verdict.PASS,
        ),
    ]
    # people read the point's label, never its internal key
    assert key_figure(results) == "max |E|/MPE 0.60 (时钟 clock: -3 s, MPE ±5 s)"


def test_key_figure_of_a_calibration_is_the_largest_error_with_its_u() -> None:
    results = [
        _result(
            "P20",
            ("20 %FS 点", "20 %FS point"),
            Characteristic.INDICATION_ERROR,
            "-0.02 umol/mol",
            u="0.2 umol/mol",
        ),
        _result(
            "P80",
            ("80 %FS 点", "80 %FS point"),
            Characteristic.INDICATION_ERROR,
            "-0.45 umol/mol",
            u="0.8 umol/mol",
        ),
    ]
    assert key_figure(results) == "max |E| 0.45 µmol/mol (80 %FS 点 80 %FS point: U = 0.8 µmol/mol)"
    assert key_figure([]) == "—"


_TYPE_OF_ITEM = {
    ("verification", True): "verification_certificate",
    ("verification", False): "nonconformity_notice",
    ("calibration", True): "calibration_certificate",
    ("calibration", False): "calibration_certificate",
}


def test_demo_ends_with_signed_issued_certificates(demo: Demo) -> None:
    from lims.models import Certificate, CertificateStatus, Signature
    from lims.services.certificates import verify_certificate_file

    assert demo.code == 0, demo.err
    with demo.db.read() as s:
        # The demo's own runs come first (another test adds a run of its own later).
        runs = s.scalars(select(Run).order_by(Run.id).limit(len(PROCEDURE_IDS))).all()
        assert len(runs) == len(PROCEDURE_IDS)
        for run in runs:
            cert = s.scalars(select(Certificate).where(Certificate.run_id == run.id)).one()
            item = s.get(WorkOrderItem, run.work_order_item_id)
            assert item is not None
            verdicts = s.scalars(select(Result.verdict).where(Result.run_id == run.id)).all()
            passed = not any(v in (Verdict.FAIL, Verdict.UNDETERMINED) for v in verdicts)
            assert cert.type.value == _TYPE_OF_ITEM[(item.service.value, passed)], run.id
            assert cert.status is CertificateStatus.ISSUED
            signers = s.scalars(
                select(Signature.meaning)
                .where(Signature.certificate_id == cert.id)
                .order_by(Signature.id)
            ).all()
            assert [m.value for m in signers] == ["performed", "reviewed", "approved"]
            pdf = demo.data_dir / "certificates" / f"{cert.number}.pdf"
            dcc = demo.data_dir / "certificates" / f"{cert.number}.xml"
            assert str(pdf) in demo.out
            assert str(dcc) in demo.out
            # A run on the simulated bench is marked so on the certificate.
            assert cert.content["simulated"] is True
            for path in (pdf, dcc):
                result = verify_certificate_file(demo.db, path.read_bytes(), str(path))
                assert result.ok, result.summary()


def test_demo_prints_the_portal_command_and_a_qr_address_of_an_issued_certificate(
    demo: Demo,
) -> None:
    from lims.models import Certificate, CertificateStatus

    assert demo.code == 0, demo.err
    assert f"LIMS_DATA_DIR={demo.data_dir} lims portal serve" in demo.out
    line = next(x for x in demo.out.splitlines() if "/v/" in x)
    address = line.split()[-1]
    number = address.split("/v/")[1].split("?")[0]
    with demo.db.read() as s:
        cert = s.scalars(select(Certificate).where(Certificate.number == number)).one()
        assert cert.status is CertificateStatus.ISSUED
        assert address.endswith(f"?h={cert.content_sha256}")
