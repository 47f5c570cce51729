"""``lims audit``: verify the audit trail."""

from __future__ import annotations

import typer

from lims.audit import verify
from lims.cli.common import console, database, err_console

app = typer.Typer(help="The audit trail: verify it.", no_args_is_help=True)


@app.command("verify")
def audit_verify() -> None:
    """Walk the audit chain and check every record against it; name what was tampered with."""
    db = database()
    try:
        with db.read() as s:
            report = verify(s)
    finally:
        db.dispose()
    console.print(
        f"checked {report.events} audit events, {report.records} records, "
        f"{report.readings} readings",
        highlight=False,
    )
    if report.ok:
        console.print("[green]audit trail intact[/green]")
        return
    for problem in report.problems:
        err_console.print(f"[red]TAMPERED[/red] {problem}", highlight=False)
    raise typer.Exit(1)
