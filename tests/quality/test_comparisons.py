"""Comparisons: Algorithm A on the ISO 5725-5 creosote data (hand-computed steps), En, z
and ζ by hand, incidents for unsatisfactory own results, the pt commands."""

from __future__ import annotations

import math
import statistics
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from lims.cli.main import app
from lims.db import Database
from lims.db.migrate import upgrade
from lims.models import ComparisonResult, Incident, Role
from lims.quality.comparisons import (
    AssignedValue,
    ComparisonInput,
    ParticipantResult,
    algorithm_a,
    assess,
    consensus,
    record_comparison,
    scores,
)
from lims.quality.errors import PermissionDenied, QualityError
from tests.quality._build import PASSWORD, build_lab

# ISO 5725-5:1998, creosote example: the cell means of nine laboratories
CREOSOTE = [24.140, 20.155, 19.500, 20.300, 20.705, 17.570, 20.100, 20.940, 21.185]


def test_algorithm_a_on_the_creosote_data_step_by_step() -> None:
    start = algorithm_a(CREOSOTE, steps=0)
    # median 20.300; |x − 20.300| sorted: 0, .145, .2, .405, .64, .8, .885, 2.73, 3.84
    assert start.mean == pytest.approx(20.300)
    assert start.sd == pytest.approx(1.483 * 0.640)
    one = algorithm_a(CREOSOTE, steps=1)
    d = 1.5 * 1.483 * 0.640  # 1.42368: 24.140 → 21.72368, 17.570 → 18.87632
    winsorized = [20.300 + d, 20.155, 19.500, 20.300, 20.705, 20.300 - d, 20.100, 20.940, 21.185]
    assert one.mean == pytest.approx(sum(winsorized) / 9)
    assert one.sd == pytest.approx(1.134 * statistics.stdev(winsorized))
    final = algorithm_a(CREOSOTE)
    # the converged estimate is a fixed point of the update
    d = 1.5 * final.sd
    w = [min(max(v, final.mean - d), final.mean + d) for v in CREOSOTE]
    assert final.mean == pytest.approx(statistics.fmean(w), abs=1e-9)
    assert final.sd == pytest.approx(1.134 * statistics.stdev(w), abs=1e-9)
    # robust: the straggler 24.140 barely moves it, unlike the plain mean
    assert abs(final.mean - statistics.median(CREOSOTE)) < abs(
        statistics.fmean(CREOSOTE) - statistics.median(CREOSOTE)
    )
    assigned = consensus(CREOSOTE)
    assert assigned.u == pytest.approx(1.25 * final.sd / 3)
    with pytest.raises(QualityError, match="at least 3"):
        algorithm_a([1.0, 2.0])


def test_scores_by_hand() -> None:
    ref = AssignedValue(1000.0, 1.5, "reference")  # U = 3 (k = 2)
    ours = ParticipantResult("us", 1003.0, 4.0, 2.0, own_lab=True)
    en, z, zeta = scores(ours, ref, sigma_pt=1.0)
    assert en == pytest.approx(3 / math.hypot(4, 3))  # 0.6
    assert zeta == pytest.approx(3 / math.hypot(2, 1.5))  # 1.2
    assert z == pytest.approx(3.0)
    assert assess(en, None, zeta) == "satisfactory"
    assert assess(en, z, zeta) == "unsatisfactory"
    assert assess(None, 2.5, None) == "questionable"
    assert assess(1.01, None, None) == "unsatisfactory"
    assert assess(None, None, None) == "not_scored"


def test_rounds_and_incidents(db: Database) -> None:
    lab = build_lab(db, [Role.QUALITY_MANAGER, Role.TECHNICIAN])
    qm, tech = lab.users[Role.QUALITY_MANAGER], lab.users[Role.TECHNICIAN]
    results = tuple(
        ParticipantResult(f"L{i}", v, 0.5, 2.0, own_lab=(i == 0)) for i, v in enumerate(CREOSOTE)
    )
    pt = ComparisonInput(
        kind="proficiency_test",
        scheme="CNAS T-creosote",
        measurand="creosote",
        unit="g/kg",
        performed_on=date(2026, 3, 1),
        results=results,
        sigma_pt=1.0,
        round_code="2026-1",
    )
    with pytest.raises(PermissionDenied), db.write(actor=tech) as s:
        record_comparison(s, tech, pt)
    with db.write(actor=qm, reason="PT result") as s:
        rnd = record_comparison(s, qm, pt)
        assert rnd.assigned_method == "consensus_algorithm_a"
        assert rnd.assigned_value == pytest.approx(algorithm_a(CREOSOTE).mean)
    # in-house: two flow standards against the reference device
    internal = ComparisonInput(
        kind="internal",
        scheme="flow standards",
        measurand="flow at 10 m³/h",
        unit="m³/h",
        performed_on=date(2026, 3, 2),
        reference=ParticipantResult("STD-FLOW-001", 10.000, 0.010, device_tag="STD-FLOW-001"),
        results=(
            ParticipantResult("STD-FLOW-002", 10.008, 0.012, device_tag="STD-FLOW-002"),
            ParticipantResult("STD-FLOW-003", 10.030, 0.012, device_tag="STD-FLOW-003"),
        ),
    )
    with db.write(actor=qm, reason="intermediate check") as s:
        record_comparison(s, qm, internal)
    with db.read() as s:
        rows = list(s.scalars(select(ComparisonResult).order_by(ComparisonResult.id)))
        own = rows[0]
        # our 24.140 against x* (u from 1.25·s*/3) with σ_pt = 1: z = (24.14 − x*)/1 > 3
        assert own.z == pytest.approx(24.140 - algorithm_a(CREOSOTE).mean)
        assert own.assessment == "unsatisfactory"
        assert own.incident_id is not None
        others = [r for r in rows[1:9] if r.incident_id is not None]
        assert others == []  # only the lab's own result opens an incident
        dev2, dev3 = rows[9], rows[10]
        assert dev2.en == pytest.approx(0.008 / math.hypot(0.012, 0.010))
        assert dev2.assessment == "satisfactory"
        assert dev3.en == pytest.approx(0.030 / math.hypot(0.012, 0.010))
        assert dev3.assessment == "unsatisfactory"
        incidents = list(s.scalars(select(Incident).order_by(Incident.id)))
        assert [i.status for i in incidents] == ["open", "open"]
        assert "STD-FLOW-003" in incidents[1].title
    bad = ComparisonInput(**{**pt.__dict__, "results": results[1:]})
    with pytest.raises(QualityError, match="own_lab"), db.write(actor=qm) as s:
        record_comparison(s, qm, bad)


ROUND = """
kind = "proficiency_test"
scheme = "CNAS T0456"
round_code = "2026-A"
measurand = "CO2 in N2"
unit = "µmol/mol"
performed_on = 2026-04-01

[reference]
participant = "NIM"
value = 1000.0
U = 2.0

[[result]]
participant = "us"
own = true
value = 1003.0
U = 4.0
"""


def test_pt_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'lims.sqlite3'}"
    monkeypatch.setenv("LIMS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("LIMS_DATABASE_URL", url)
    db = Database(url)
    upgrade(db.engine)
    build_lab(db, [Role.QUALITY_MANAGER])
    db.dispose()
    pw = tmp_path / "pw"
    pw.write_text(PASSWORD + "\n", encoding="utf-8")
    auth = ["--user", "qualitymanager", "--password-file", str(pw)]
    f = tmp_path / "round.toml"
    f.write_text(ROUND, encoding="utf-8")
    runner = CliRunner()
    out = runner.invoke(app, ["pt", "round", str(f), *auth])
    assert out.exit_code == 0, out.output
    en = 3 / math.hypot(4, 2)
    assert f"En {en:+.2f}" in out.output
    assert "satisfactory" in out.output
    out = runner.invoke(app, ["pt", "list", *auth])
    assert "CNAS T0456 2026-A" in out.output
    out = runner.invoke(app, ["pt", "report", "1", *auth])
    assert "x_pt = 1000" in out.output
    f.write_text(ROUND.replace("value = 1003.0", 'value = "x"'), encoding="utf-8")
    out = runner.invoke(app, ["pt", "round", str(f), *auth])
    assert out.exit_code != 0
    assert "result 1: value, U and k must be numbers" in str(out.exception)
