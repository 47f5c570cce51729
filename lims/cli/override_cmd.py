"""``lims override``: a quality manager's override of a failed pre-run rule."""

from __future__ import annotations

from typing import Annotated

import typer

from lims.cli.common import PasswordOpt, UserOpt, console, session_user
from lims.quality.overrides import grant_run_override, run_rules

app = typer.Typer(
    help="Rule overrides / 豁免 (quality manager, with password and reason).",
    no_args_is_help=True,
)


@app.command("grant")
def override_grant(
    run_id: Annotated[int, typer.Argument(help="The run the rule failed for.")],
    rule: Annotated[str, typer.Option(help="The failed rule's key, e.g. standard:STD-GAS-001.")],
    reason: Annotated[str, typer.Option(help="Why the run may go ahead (audited, printed).")],
    user: UserOpt,
    password_file: PasswordOpt = None,
) -> None:
    """Override one failed rule for one run (your password is asked for)."""
    db, actor = session_user(user, password_file)
    try:
        override_id = grant_run_override(db, actor, run_id, rule, reason)
    finally:
        db.dispose()
    console.print(f"override {override_id}: run {run_id} {rule} / 已豁免", highlight=False)


@app.command("list")
def override_list(
    run_id: Annotated[int, typer.Argument(help="The run.")],
    user: UserOpt,
    password_file: PasswordOpt = None,
) -> None:
    """The rules that failed for a run and the overrides granted."""
    db, actor = session_user(user, password_file)
    try:
        with db.read() as s:
            rules = run_rules(s, actor, run_id)
    finally:
        db.dispose()
    for r in rules:
        state = f"overridden by {r.overridden_by}: {r.reason}" if r.overridden_by else "FAILED"
        console.print(f"{r.key:<32} {state}  ({r.detail})", highlight=False)
    if not rules:
        console.print(f"run {run_id}: no rule failed", highlight=False)
