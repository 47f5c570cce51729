"""Monte Carlo cross-check (JCGM 101) of every budget the demo lab's procedures store.

Builds the demo lab in a temporary directory, runs every demo procedure on the simulated
benches (about a minute and a half), then reads each stored budget through
:func:`lims.quality.budgets.stored_budgets` and propagates it by adaptive MCM beside the
GUM result. Prints, per procedure, the MCM run time per result and the GUM-vs-MCM
end-point differences against JCGM 101's tolerance δ ("settled": the run reached its
tolerance or the validation outcome was beyond the MCM's scatter, not the trial cap),
then the totals.

Usage: ``uv run python benchmarks/mcm_demo.py [--seed N]``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections import defaultdict
from datetime import date
from pathlib import Path

from sqlalchemy import select

from lims.calc.mcm import DEFAULT_SEED
from lims.config import load_settings, sqlite_url_for
from lims.models import Run, User
from lims.quality.budgets import cross_check, stored_budgets
from lims.services.demo import DEMO_ADMIN, DEMO_LAB, seed_demo
from lims.services.demo_runs import run_demo_procedures
from lims.services.lab import initialize, open_database, policy_from


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp)
        s = load_settings(
            {"LIMS_DATA_DIR": str(target), "LIMS_DATABASE_URL": sqlite_url_for(target)}
        )
        db = open_database(s)
        try:
            initialize(db, s, DEMO_LAB, *DEMO_ADMIN)
            with db.write(actor="system:demo", reason="demo lab seed") as session:
                seed_demo(session, policy_from(s), date.today())
            started = time.perf_counter()
            summaries = run_demo_procedures(db, s)
            print(f"demo runs: {len(summaries)} in {time.perf_counter() - started:.0f} s")
            with db.read() as session:
                auditor = session.scalars(select(User).where(User.username == "wang")).one()
                rows = []
                for summary in summaries:
                    run = session.get(Run, summary.run_id)
                    assert run is not None
                    for budget in stored_budgets(session, auditor, summary.run_id):
                        rows.append((summary.procedure_id, budget))
        finally:
            db.dispose()
    per_proc: dict[str, list[tuple[float, float, float, bool, int]]] = defaultdict(list)
    print(
        f"{'procedure':<24} {'point':<18} {'item':<18} {'unit':<9} {'GUM ±U':>10} "
        f"{'MCM low':>10} {'MCM high':>10} {'d_low':>9} {'d_high':>9} {'δ':>8} "
        f"{'trials':>8} {'ms':>6}  flag"
    )
    for proc, budget in rows:
        check = cross_check(budget, seed=args.seed)
        c, m = check.comparison, check.comparison.mcm
        per_proc[proc].append(
            (
                m.seconds,
                max(c.d_low, c.d_high),
                c.delta,
                check.flagged,
                int(m.converged or m.decided_early),
            )
        )
        big_u = (c.gum_high - c.gum_low) / 2
        print(
            f"{proc:<24} {budget.test_point[:18]:<18} {budget.item[:18]:<18} "
            f"{check.unit[:9]:<9} {big_u:>10.4g} {m.low:>10.4g} {m.high:>10.4g} "
            f"{c.d_low:>9.3g} {c.d_high:>9.3g} {c.delta:>8.2g} {m.trials:>8} "
            f"{m.seconds * 1000:>6.0f}  {'DIFFERS' if check.flagged else 'ok'}"
            f"{'' if m.converged else ' (decided)' if m.decided_early else ' (trial cap)'}"
        )
    print()
    print(
        f"{'procedure':<24} {'results':>7} {'ms/result median':>17} {'max':>6} "
        f"{'flagged':>8} {'max d/δ':>8} {'settled':>8}"
    )
    all_times: list[float] = []
    for proc, items in per_proc.items():
        times = [t for t, *_ in items]
        all_times += times
        flagged = sum(1 for *_, f, _c in items if f)
        converged = sum(c for *_, c in items)
        worst = max(d / delta for _t, d, delta, _f, _c in items)
        print(
            f"{proc:<24} {len(items):>7} {statistics.median(times) * 1000:>17.0f} "
            f"{max(times) * 1000:>6.0f} {flagged:>8} {worst:>8.2f} {converged:>8}"
        )
    if all_times:
        print(
            f"all: {len(all_times)} results, MCM median {statistics.median(all_times) * 1000:.0f}"
            f" ms, max {max(all_times) * 1000:.0f} ms, total {sum(all_times):.1f} s"
        )


if __name__ == "__main__":
    main()
