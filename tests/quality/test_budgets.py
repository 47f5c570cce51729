"""Stored budgets read back through one reader, shown by ``run budget`` with their MCM check."""

from __future__ import annotations

import math
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from lims.calc import Coverage, Distribution, type_b_half_width, uncertainty_budget
from lims.cli.main import app
from lims.db import Database
from lims.db.migrate import upgrade
from lims.models import Result, Role, User
from lims.quality.budgets import stored_budgets
from lims.quality.errors import NotFoundError
from lims.units import Q_, to_storage
from tests.calc.legacy_budgets import budget_record
from tests.quality._build import PASSWORD, SYSTEM, add_run, build_lab


def _budget(half_width: float) -> dict[str, object]:
    """E = x − x_s with a rectangular flow standard ±half_width % and a normal U = 0.1 % (k=2)."""
    b = uncertainty_budget(
        Q_(0.3, "percent"),
        [
            type_b_half_width("flow standard", Q_(half_width, "percent"), Distribution.RECTANGULAR),
            type_b_half_width("meter", Q_(0.1, "percent"), Distribution.NORMAL, k=2.0),
        ],
        measurand="E",
        coverage=Coverage.fixed(2.0),
    )
    return budget_record(b)


def _results(db: Database) -> int:
    lab = build_lab(db, [Role.TECHNICIAN, Role.AUDITOR])
    with db.write(actor=SYSTEM, reason="fixture") as s:
        run = add_run(s, lab, date(2026, 3, 1), ["STD-FLOW"])
        err, unit = to_storage(Q_(0.3, "percent"))
        for point, hw in (("q1", 0.5), ("q2", 0.005)):
            s.add(
                Result(
                    run_id=run,
                    item="error",
                    test_point=point,
                    values={"error": {"value": err, "unit": unit}},
                    budget=_budget(hw),
                )
            )
        s.flush()
        wrong = Result(run_id=run, item="error", test_point="q3", values={}, budget=_budget(9.0))
        s.add(wrong)
        s.flush()
        s.add(
            Result(
                run_id=run,
                item="error",
                test_point="q3",
                values={},
                budget=_budget(0.002),
                corrects_id=wrong.id,
                correction_reason="wrong standard entered",
            )
        )
    return run


def test_stored_budgets_of_a_run(db: Database) -> None:
    run = _results(db)
    with db.read() as s:
        auditor = s.scalars(select(User).where(User.username == "auditor")).one()
        budgets = stored_budgets(s, auditor, run)
        assert [(b.test_point, len(b.lines)) for b in budgets] == [("q1", 2), ("q2", 2), ("q3", 2)]
        q3 = budgets[2]
        expected = math.sqrt((0.002 / math.sqrt(3)) ** 2 + 0.05**2)
        assert q3.combined.to("percent").magnitude == pytest.approx(expected)
        assert q3.value == Q_(0.3, "percent")
        assert stored_budgets(s, auditor, run, point="q2")[0].test_point == "q2"
        with pytest.raises(NotFoundError, match="no budget at test point"):
            stored_budgets(s, auditor, run, point="q9")
        with pytest.raises(NotFoundError, match="run 999"):
            stored_budgets(s, auditor, 999)


def test_run_budget_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'lims.sqlite3'}"
    monkeypatch.setenv("LIMS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("LIMS_DATABASE_URL", url)
    db = Database(url)
    upgrade(db.engine)
    run = _results(db)
    db.dispose()
    pw = tmp_path / "pw"
    pw.write_text(PASSWORD + "\n", encoding="utf-8")
    out = CliRunner().invoke(
        app,
        ["run", "budget", str(run), "--user", "auditor", "--password-file", str(pw)],
        env={"COLUMNS": "200"},
    )
    assert out.exit_code == 0, out.output
    assert "flow standard" in out.output
    assert "均匀 rectangular" in out.output
    # q1: the rectangular ±0.5 % dominates, its k = 2 interval is ~20 % wider than the
    # MCM one; q2 and q3 are all but normal (the rectangular parts are < 0.1 % of u_c²)
    assert "3 budget(s); 1 with GUM–MCM differences beyond δ" in out.output
    assert out.output.count("GUM interval validated") == 2
