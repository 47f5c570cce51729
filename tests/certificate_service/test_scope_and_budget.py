"""The scope/CMC guard (ILAC P14) wired into drafting, on both rules and both backends, and
the uncertainty-budget annex; every expectation is checked in the PDF's extracted text."""

from __future__ import annotations

import math
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import select

from lims.certificates import Meaning
from lims.db import Database
from lims.models import Certificate, LabProfile, Verdict
from lims.quality.scope import import_scope, release_scope
from lims.results import StoredBudget, StoredBudgetLine
from lims.services.certificates import (
    CertificateWorkflowError,
    certificate_budgets,
    certificate_pdf,
    draft_certificate,
    sign_certificate,
)
from lims.units import Q_
from tests.certificate_service.builder import (
    FULL_SCALE,
    PASSWORDS,
    POLICY,
    Point,
    make_gas_run,
    user,
)
from tests.lims._cli import run_main

CMC_ABS, CMC_REL, RANGE_HIGH = 4.0, 0.005, 1000.0  # µmol/mol, fraction, µmol/mol
SCOPE = f"""
accreditation_number = "CNAS L12345"
version = "2026.1"
below_cmc = "raise"

[[entry]]
quantity = "CO2 amount fraction"
procedure = "jjg635"
method = "JJG 635-2011"
range = ["0 µmol/mol", "{RANGE_HIGH:g} µmol/mol"]
cmc = "{CMC_ABS:g} µmol/mol"
cmc_relative = "{CMC_REL * 100:g} %"
"""


def cmc(x: float) -> float:
    return CMC_ABS + CMC_REL * x


IN_SCOPE = Point("P40", 400.0, 3.0, cmc(400.0) + 3.0, Verdict.PASS)
BELOW_CMC = Point("P80", 800.0, 2.0, cmc(800.0) - 3.0, Verdict.PASS)
OUTSIDE = Point("P160", 1600.0, 4.0, 20.0, Verdict.PASS)


@pytest.fixture(scope="module")
def scoped(lab: Database) -> Database:
    """The demo lab with the scope above released."""
    qm = user(lab, "chen")
    with lab.write(actor=qm, reason="scope received from CNAS") as s:
        import_scope(s, qm, SCOPE)
    with lab.write(actor=qm, reason="CNAS decision 2026") as s:
        release_scope(s, qm, "2026.1", "CNAS decision 2026")
    return lab


def _text(db: Database, number: str, tmp: Path, pages: str = "") -> str:
    pdf = tmp / f"{number}.pdf"
    pdf.write_bytes(certificate_pdf(db, user(db, "zhao"), number))
    cmd = ["pdftotext", "-enc", "UTF-8"]
    if pages:
        cmd += ["-f", pages, "-l", pages]
    out = subprocess.run([*cmd, str(pdf), "-"], check=True, capture_output=True, timeout=60)
    return out.stdout.decode("utf-8")


def _fs(x: float, places: int = 2) -> str:
    """An absolute µmol/mol value as the jjg635 table prints it, in %FS."""
    return f"{x / FULL_SCALE * 100:.{places}f}%FS"


def _lab_number(db: Database) -> str:
    with db.read() as s:
        lab = s.scalars(select(LabProfile)).one()
        return lab.accreditation_number


def test_u_below_cmc_raised_to_the_cmc(scoped: Database, tmp_path: Path) -> None:
    run = make_gas_run(scoped, 1, [IN_SCOPE, BELOW_CMC])
    number = draft_certificate(scoped, user(scoped, "zhang"), run, cmc_rule="raise").number
    text = _text(scoped, number, tmp_path)
    raised = cmc(BELOW_CMC.reference)  # 8 µmol/mol = 0.40 %FS
    assert _fs(raised) in text
    assert _fs(BELOW_CMC.u) not in text  # the reported U (0.25 %FS) is not claimed
    assert _fs(IN_SCOPE.u, 2) in text  # a U above the CMC stays as reported
    page1 = _text(scoped, number, tmp_path, "1")
    assert "ACCREDITED" in page1
    assert _lab_number(scoped) in page1
    assert "草" in page1  # the draft's mark
    # the first signature signs the same content without the mark
    sign_certificate(scoped, number, "zhang", PASSWORDS["zhang"], Meaning.PERFORMED, POLICY)
    signed = _text(scoped, number, tmp_path, "1")
    assert "草" not in signed
    assert "ACCREDITED" in signed


def test_u_below_cmc_refused(scoped: Database) -> None:
    run = make_gas_run(scoped, 1, [IN_SCOPE, BELOW_CMC])
    with pytest.raises(CertificateWorkflowError, match="below the CMC") as err:
        draft_certificate(scoped, user(scoped, "zhang"), run, cmc_rule="refuse")
    assert "P80" in str(err.value)
    assert "P40" not in str(err.value)
    with scoped.read() as s:
        assert s.scalars(select(Certificate).where(Certificate.run_id == run)).first() is None


@pytest.mark.parametrize("rule", ["raise", "refuse"])
def test_point_outside_scope_takes_the_mark_off(
    scoped: Database, tmp_path: Path, rule: str
) -> None:
    run = make_gas_run(scoped, 1, [IN_SCOPE, OUTSIDE])
    number = draft_certificate(scoped, user(scoped, "zhang"), run, cmc_rule=rule).number
    page1 = _text(scoped, number, tmp_path, "1")
    assert "ACCREDITED" not in page1
    assert _lab_number(scoped) not in page1
    assert "不适用" in page1
    text = _text(scoped, number, tmp_path).replace("\n", "")
    assert "P160" in text
    assert "不在本实验室认可范围" in text
    assert "outside the laboratory's accreditation scope" in text
    assert _fs(OUTSIDE.u, 1) in text  # U printed as reported, to two significant digits


def test_all_in_scope_keeps_the_mark(scoped: Database, tmp_path: Path) -> None:
    run = make_gas_run(scoped, 1, [IN_SCOPE])
    number = draft_certificate(scoped, user(scoped, "zhang"), run, cmc_rule="refuse").number
    page1 = _text(scoped, number, tmp_path, "1")
    assert "ACCREDITED" in page1
    assert _lab_number(scoped) in page1
    assert "认可范围" not in _text(scoped, number, tmp_path)


# ------------------------------------------------------------------ the budget annex

U_GAS, U_REP, DOF_REP, K = 3.0, 1.5, 2.0, 2.0  # µmol/mol, µmol/mol, ν, k


def _budget() -> dict[str, object]:
    u_c = math.hypot(U_GAS, U_REP)
    dof_eff = u_c**4 / (U_REP**4 / DOF_REP)
    q = lambda x: Q_(x, "µmol/mol")  # noqa: E731
    return StoredBudget(
        measurand="error of indication",
        value=q(IN_SCOPE.error),
        lines=(
            StoredBudgetLine(
                "标准气体 standard gas", "B", "normal", q(U_GAS), 1.0, q(U_GAS), math.inf
            ),
            StoredBudgetLine(
                "重复性 repeatability", "A", "student_t", q(U_REP), 1.0, q(U_REP), DOF_REP
            ),
        ),
        combined=q(u_c),
        dof_eff=dof_eff,
        k=K,
        p=None,
        expanded=q(K * u_c),
        coverage="k = 2",
    ).to_json()


def test_budget_annex_in_the_pdf_and_in_show(
    lab: Database,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    u_c = math.hypot(U_GAS, U_REP)
    dof_eff = u_c**4 / (U_REP**4 / DOF_REP)
    point = Point("P40", 400.0, 3.0, K * u_c, Verdict.PASS)
    run = make_gas_run(lab, 1, [point], budgets={"P40": _budget()})
    zhang = user(lab, "zhang")
    number = draft_certificate(lab, zhang, run, budget_annex=True).number
    text = _text(lab, number, tmp_path)
    expected = [
        "Annex: uncertainty budgets",
        "standard gas",
        "repeatability",
        f"{U_GAS:.3g} µmol/mol",
        f"{U_REP:.3g} µmol/mol",
        f"u_c = {u_c:.3g} µmol/mol",
        f"ν_eff = {dof_eff:.3g}",
    ]
    for item in expected:
        assert item in text, item
    annexes = certificate_budgets(lab, user(lab, "zhao"), number)
    assert len(annexes) == 1
    assert annexes[0].dof_eff == pytest.approx(dof_eff)
    # the command line prints the same annex
    for name, password in PASSWORDS.items():
        (tmp_path / name).write_text(password + "\n", encoding="utf-8")
    env = {"LIMS_DATABASE_URL": str(lab.engine.url.render_as_string(hide_password=False))}
    env["LIMS_DATA_DIR"] = str(tmp_path / "data")
    args = ["certificate", "show", number, "--budget", "--user", "zhao"]
    out = run_main([*args, "--password-file", str(tmp_path / "zhao")], env, monkeypatch, capsys)
    assert out.code == 0, out.err
    flat = " ".join(out.out.split())
    for item in ("repeatability", *expected[5:]):  # the table's cells wrap at the console width
        assert item in flat, item
    for word in ("standard", "gas", f"{U_GAS:.3g}", f"{U_REP:.3g}"):
        assert word in flat, word
