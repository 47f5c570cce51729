"""``lims trace``: reverse traceability of a standard or reference material."""

from __future__ import annotations

from typing import Annotated

import typer

from lims.cli.common import PasswordOpt, UserOpt, console, parse_date, session_user
from lims.quality.trace import reverse_trace

app = typer.Typer(help="Traceability / 溯源: what used a standard.", no_args_is_help=True)


@app.command("reverse")
def trace_reverse(
    tag: Annotated[str, typer.Argument(help="Standard or reference-material tag.")],
    user: UserOpt,
    password_file: PasswordOpt = None,
    since: Annotated[str | None, typer.Option(help="Only runs on or after YYYY-MM-DD.")] = None,
) -> None:
    """Every run and certificate that used TAG, directly or via in-house calibrated standards."""
    day = parse_date(since, "--since") if since else None
    db, actor = session_user(user, password_file)
    try:
        with db.read() as s:
            result = reverse_trace(s, actor, tag, since=day)
    finally:
        db.dispose()
    for r in result.runs:
        console.print(
            f"run {r.run_id:<8} {r.started_at:%Y-%m-%d}  via {' → '.join(r.via)}", highlight=False
        )
    for c in result.certificates:
        console.print(
            f"certificate {c.number:<16} {c.status:<10} run {c.run_id}  via {' → '.join(c.via)}",
            highlight=False,
        )
    console.print(
        f"{len(result.runs)} run(s), {len(result.certificates)} certificate(s) used {tag}",
        highlight=False,
    )
