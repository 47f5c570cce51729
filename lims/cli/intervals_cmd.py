"""``lims intervals``: calibration intervals from the data — report proposals, accept one."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import typer

from lims.cli.common import CliError, PasswordOpt, UserOpt, console, parse_date, session_user
from lims.quality.intervals import IntervalProposal, accept_interval, interval_report

app = typer.Typer(
    help="Calibration intervals / 校准间隔: drift analysis and accepted due dates.",
    no_args_is_help=True,
)


def proposal_lines(p: IntervalProposal) -> list[str]:
    """One proposal as text lines."""
    head = f"{p.tag} · {p.series} [{p.unit}] limit ±{p.limit:g}, R = {p.reliability:g}"
    lines = [
        head,
        f"  {len(p.points)} observation(s), last {p.points[-1].when if p.points else '—'}",
    ]
    if p.fit is not None:
        per_year = p.fit.slope_per_day * 365.25
        lines.append(f"  drift {per_year:+.4g} {p.unit}/year, s = {p.fit.s:.3g} {p.unit}")
    due = p.current_due.isoformat() if p.current_due else "—"
    proposed = p.proposed_due.isoformat() if p.proposed_due else "—"
    check = f"{p.check_interval_days} d" if p.check_interval_days else "—"
    lines.append(f"  due now {due}; proposed due {proposed}; intermediate check every {check}")
    lines += [f"  note: {n}" for n in p.notes]
    return lines


@app.command("report")
def intervals_report(
    user: UserOpt,
    password_file: PasswordOpt = None,
    tag: Annotated[
        str | None, typer.Option(help="A standard, or an instrument's asset tag or serial.")
    ] = None,
    reliability: Annotated[float, typer.Option(help="Reliability target R, e.g. 0.95.")] = 0.95,
) -> None:
    """Fit each series' drift and propose the next due date and check interval."""
    db, actor = session_user(user, password_file)
    try:
        with db.read() as s:
            proposals = interval_report(s, actor, tag=tag, reliability=reliability)
    finally:
        db.dispose()
    for p in proposals:
        for line in proposal_lines(p):
            console.print(line, highlight=False)
    console.print(f"{len(proposals)} series analysed / 已分析", highlight=False)


@app.command("accept")
def intervals_accept(
    tag: Annotated[str, typer.Argument(help="A standard, or an instrument's asset tag or serial.")],
    due: Annotated[str, typer.Option(help="The next due date to apply, YYYY-MM-DD.")],
    reason: Annotated[str, typer.Option(help="Why (audited).")],
    user: UserOpt,
    password_file: PasswordOpt = None,
    check_every: Annotated[
        int | None, typer.Option(help="Intermediate-check interval in days (standards).")
    ] = None,
    series: Annotated[
        str | None, typer.Option(help="The analysed series the decision rests on.")
    ] = None,
    reliability: Annotated[float, typer.Option(help="Reliability target of the analysis.")] = 0.95,
    today: Annotated[str | None, typer.Option(help="Reference day (default today).")] = None,
) -> None:
    """Accept a due date (quality manager): recorded with the analysis, audited."""
    next_due = parse_date(due, "--due")
    day = parse_date(today, "--today") if today else date.today()
    db, actor = session_user(user, password_file)
    try:
        with db.write(actor=actor, reason=reason) as s:
            proposals = interval_report(s, actor, tag=tag, reliability=reliability)
            chosen = None
            if series is not None:
                chosen = next((p for p in proposals if p.series == series), None)
                if chosen is None:
                    known = ", ".join(p.series for p in proposals) or "none"
                    raise CliError(f"--series {series!r}: not analysed for {tag} ({known})")
            elif len(proposals) == 1:
                chosen = proposals[0]
            accept_interval(
                s,
                actor,
                tag,
                next_due=next_due,
                reason=reason,
                check_interval_days=check_every,
                proposal=chosen,
                today=day,
            )
    finally:
        db.dispose()
    console.print(f"{tag}: next due {next_due} accepted / 已批准", highlight=False)
