"""``lims run budget RUN_ID [--point P]``: a run's stored uncertainty budgets, each with
its Monte Carlo cross-check (JCGM 101)."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from lims.calc.mcm import DEFAULT_SEED
from lims.cli.common import console, session_user
from lims.quality.budgets import BUDGET_HEADERS, BudgetCrossCheck, cross_check, stored_budgets


def _fmt(x: float) -> str:
    return f"{x:.6g}"


def cross_check_lines(check: BudgetCrossCheck) -> list[str]:
    """The MCM cross-check of one budget as text lines."""
    c = check.comparison
    m = c.mcm
    unit = check.unit
    verdict = (
        "一致 GUM interval validated"
        if c.validated
        else "差异超出容差 GUM and MCM intervals differ beyond δ"
    )
    return [
        f"MCM (JCGM 101, adaptive, seed {m.seed}): M = {m.trials} trials in {m.batches} "
        f"batches{'' if m.converged else ' (NOT converged)'}, {m.seconds * 1000:.0f} ms",
        f"  y = {_fmt(m.y)} {unit}, u(y) = {_fmt(m.u)} {unit}, "
        f"{m.p * 100:.2f} % interval [{_fmt(m.low)}, {_fmt(m.high)}] {unit}",
        f"  GUM [{_fmt(c.gum_low)}, {_fmt(c.gum_high)}] {unit}; d_low = {_fmt(c.d_low)}, "
        f"d_high = {_fmt(c.d_high)}, δ = {_fmt(c.delta)} {unit}: {verdict}",
    ]


def show_budgets(
    run_id: int,
    user: str,
    password_file: Path | None,
    *,
    point: str | None = None,
    mcm: bool = True,
    seed: int = DEFAULT_SEED,
) -> None:
    """Print each stored budget of a run, with its Monte Carlo cross-check when ``mcm``."""
    db, actor = session_user(user, password_file)
    try:
        with db.read() as s:
            budgets = stored_budgets(s, actor, run_id, point=point)
    finally:
        db.dispose()
    if not budgets:
        console.print(f"run {run_id} stored no uncertainty budget", highlight=False)
        return
    # in a file or a pipe the tables keep their width instead of wrapping every name
    out = console if console.is_terminal else Console(soft_wrap=True, width=max(console.width, 160))
    flagged = 0
    for b in budgets:
        table = Table(
            *BUDGET_HEADERS,
            title=f"{b.test_point} · {b.item} · {b.measurand}",
            title_justify="left",
        )
        for row in b.rows():
            table.add_row(*row)
        out.print(table)
        out.print(b.coverage, highlight=False)
        if mcm:
            check = cross_check(b, seed=seed)
            flagged += check.flagged
            for line in cross_check_lines(check):
                out.print(line, highlight=False)
    if mcm:
        out.print(
            f"{len(budgets)} budget(s); {flagged} with GUM–MCM differences beyond δ",
            highlight=False,
        )
