"""The accreditation scope as released data and the CMC guard (ILAC P14) on both rules."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from lims.cli.main import app
from lims.db import Database
from lims.db.migrate import upgrade
from lims.models import ReleaseStatus, Result, Role, ScopeVersion
from lims.quality.errors import PermissionDenied, QualityError
from lims.quality.scope import (
    BelowCmc,
    PointStatus,
    check_scope,
    import_scope,
    parse_scope,
    release_scope,
)
from lims.results import Characteristic, ErrorForm, Point, ResultRecord, Uncertainty
from lims.units import Q_
from lims.vocabulary import BiText
from tests.quality._build import PASSWORD, SYSTEM, Lab, add_run, build_lab

CMC_ABS, CMC_REL = 2.0, 0.002  # µmol/mol, fraction: CMC(x) = 2 µmol/mol + 0.2 %·x
SCOPE = """
accreditation_number = "CNAS L12345"
version = "{version}"
below_cmc = "{rule}"

[[entry]]
quantity = "CO2 amount fraction"
procedure = "jjg635"
method = "JJG 635-2011"
range = ["0 µmol/mol", "2000 µmol/mol"]
cmc = "2 µmol/mol"
cmc_relative = "0.2 %"
"""


def _cmc(x: float) -> float:
    return CMC_ABS + CMC_REL * x


# (point, reference µmol/mol, expanded uncertainty)
POINTS = {
    "p400": (400.0, Q_(_cmc(400.0) + 0.2, "µmol/mol")),  # above the CMC
    "p1000": (1000.0, Q_(_cmc(1000.0) - 0.5, "µmol/mol")),  # below the CMC
    "p1500": (1500.0, Q_(0.1, "percent")),  # relative U below CMC(1500)/1500
    "p2500": (2500.0, Q_(30.0, "µmol/mol")),  # outside the range
}


def _record(name: str, ref: float, u: Any) -> ResultRecord:
    """An indication error at ``ref`` with U ``u`` (absolute, or relative when in %)."""
    reference = Q_(ref, "µmol/mol")
    relative = u.units == Q_(1, "percent").units
    error = Q_(0.1, "percent") if relative else Q_(1.0, "µmol/mol")
    return ResultRecord(
        point=Point(name, BiText(name, name), reference),
        characteristic=Characteristic.INDICATION_ERROR,
        value=error,
        form=ErrorForm.RELATIVE if relative else ErrorForm.ABSOLUTE,
        reference=reference,
        indication=reference * (1.001 if relative else 1.0) + (0 if relative else error),
        uncertainty=Uncertainty(u, 2.0),
    )


def _run(db: Database) -> tuple[Lab, int]:
    lab = build_lab(db, [Role.QUALITY_MANAGER, Role.TECHNICIAN, Role.AUDITOR])
    records = [_record(name, ref, u) for name, (ref, u) in POINTS.items()]
    records.append(
        ResultRecord(
            point=Point("p1000", BiText("p1000", "p1000"), Q_(1000.0, "µmol/mol")),
            characteristic=Characteristic.REPEATABILITY,
            value=Q_(0.3, "percent"),
            form=ErrorForm.VALUE,
        )
    )
    with db.write(actor=SYSTEM, reason="fixture") as s:
        run = add_run(s, lab, date(2026, 3, 1), ["STD-GAS"])
        for rec in records:
            s.add(
                Result(
                    run_id=run,
                    item=rec.characteristic.value,
                    test_point=rec.point.key,
                    values=rec.to_json(),
                )
            )
    return lab, run


def test_scope_versions_are_released_like_tables(db: Database) -> None:
    lab = build_lab(db, [Role.QUALITY_MANAGER, Role.TECHNICIAN])
    qm, tech = lab.users[Role.QUALITY_MANAGER], lab.users[Role.TECHNICIAN]
    with pytest.raises(PermissionDenied), db.write(actor=tech) as s:
        import_scope(s, tech, SCOPE.format(version="1", rule="raise"))
    with db.write(actor=qm, reason="scope received") as s:
        import_scope(s, qm, SCOPE.format(version="1", rule="raise"))
    with pytest.raises(QualityError, match="exists already"), db.write(actor=qm) as s:
        import_scope(s, qm, SCOPE.format(version="1", rule="refuse"))
    with pytest.raises(QualityError, match="reason"), db.write(actor=qm) as s:
        release_scope(s, qm, "1", "ok")
    with db.write(actor=qm, reason="CNAS decision 2026-01") as s:
        release_scope(s, qm, "1", "CNAS decision 2026-01")
        import_scope(s, qm, SCOPE.format(version="2", rule="raise"))
    with db.write(actor=qm, reason="extension") as s:
        release_scope(s, qm, "2", "extension granted")
    with db.read() as s:
        states = dict(s.execute(select(ScopeVersion.version, ScopeVersion.status)).all())
    assert states == {"1": ReleaseStatus.WITHDRAWN, "2": ReleaseStatus.RELEASED}


@pytest.mark.parametrize("rule", [BelowCmc.RAISE, BelowCmc.REFUSE])
def test_cmc_guard_on_both_rules(db: Database, rule: BelowCmc) -> None:
    lab, run = _run(db)
    qm = lab.users[Role.QUALITY_MANAGER]
    with db.read() as s:
        before = check_scope(s, run)
    assert not before.accredited
    assert before.statement() is not None
    with db.write(actor=qm, reason="scope") as s:
        import_scope(s, qm, SCOPE.format(version="2026.1", rule=rule.value))
        release_scope(s, qm, "2026.1", "CNAS decision")
    with db.read() as s:
        decision = check_scope(s, run)
    by_point = {(p.test_point, p.item): p for p in decision.points}
    assert decision.policy is rule
    assert by_point["p400", "indication_error"].status is PointStatus.IN_SCOPE
    assert by_point["p1000", "repeatability"].status is PointStatus.NOT_CHECKED
    outside = by_point["p2500", "indication_error"]
    assert outside.status is PointStatus.OUTSIDE
    low = by_point["p1000", "indication_error"]
    rel = by_point["p1500", "indication_error"]
    assert low.cmc.to("µmol/mol").magnitude == pytest.approx(_cmc(1000.0))
    assert rel.cmc.to("percent").magnitude == pytest.approx(_cmc(1500.0) / 1500.0 * 100)
    if rule is BelowCmc.RAISE:
        assert {p.test_point for p in decision.raised} == {"p1000", "p1500"}
        assert low.claimed_u.to("µmol/mol").magnitude == pytest.approx(_cmc(1000.0))
        assert not decision.refused
    else:
        assert low.status is PointStatus.REFUSED
        assert rel.status is PointStatus.REFUSED
        assert low.claimed_u is None
        assert decision.refused
    # a point outside the scope removes the accreditation mark; the certificate says so
    assert not decision.accredited
    zh, en = decision.statement() or ("", "")
    assert "p2500" in zh
    assert "p2500" in en
    assert "CNAS L12345" in en
    # overriding the rule per call
    with db.read() as s:
        other = BelowCmc.REFUSE if rule is BelowCmc.RAISE else BelowCmc.RAISE
        assert check_scope(s, run, policy=other).refused is (other is BelowCmc.REFUSE)


def test_scope_document_errors_name_the_place() -> None:
    good = SCOPE.format(version="1", rule="raise")
    for bad, why in (
        (good.replace('below_cmc = "raise"', 'below_cmc = "ignore"'), "below_cmc"),
        (good.replace('cmc = "2 µmol/mol"', 'cmc = "2 kPa"'), "entry 1: cmc"),
        (good.replace('"2000 µmol/mol"', '"2000 bogons"'), "entry 1 range"),
        (good.replace('cmc_relative = "0.2 %"', 'cmc_relative = "0.2 µmol/mol"'), "relative"),
        (good.replace("[[entry]]", "[[entries]]"), r"no \[\[entry\]\]"),
        ("version = ", "not valid TOML"),
    ):
        with pytest.raises(QualityError, match=why):
            parse_scope(bad, "scope.toml")


def test_scope_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'lims.sqlite3'}"
    monkeypatch.setenv("LIMS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("LIMS_DATABASE_URL", url)
    db = Database(url)
    upgrade(db.engine)
    _lab, run = _run(db)
    db.dispose()
    pw = tmp_path / "pw"
    pw.write_text(PASSWORD + "\n", encoding="utf-8")
    qm = ["--user", "qualitymanager", "--password-file", str(pw)]
    scope = tmp_path / "scope.toml"
    scope.write_text(SCOPE.format(version="2026.1", rule="refuse"), encoding="utf-8")
    runner = CliRunner()
    assert runner.invoke(app, ["scope", "import", str(scope), *qm]).exit_code == 0
    out = runner.invoke(app, ["scope", "release", "2026.1", "--reason", "CNAS decision", *qm])
    assert out.exit_code == 0, out.output
    out = runner.invoke(app, ["scope", "show", *qm])
    assert "2026.1" in out.output
    assert "CMC 2 µmol/mol + 0.2 %" in out.output
    out = runner.invoke(app, ["scope", "check", str(run), *qm])
    assert out.exit_code == 1
    assert "refused" in str(out.exception)
    out = runner.invoke(app, ["scope", "check", str(run), *qm, "--policy", "raise"])
    assert out.exit_code == 0, out.output
    assert "without mark" in out.output
    assert "2 U raised to the CMC" in out.output
    bad = tmp_path / "bad.toml"
    bad.write_text("version = ", encoding="utf-8")
    out = runner.invoke(app, ["scope", "import", str(bad), *qm])
    assert out.exit_code != 0
    assert "not valid TOML" in str(out.exception)
