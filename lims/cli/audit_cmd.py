"""``lims audit``: verify the audit trail."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from lims.audit import verify
from lims.cli.common import CliError, console, database, err_console, settings

app = typer.Typer(help="The audit trail: verify and review it.", no_args_is_help=True)


def _anchor_file(given: Path | None) -> Path:
    return given if given is not None else settings().anchor_file


@app.command("verify")
def audit_verify(
    anchors: Annotated[
        Path | None,
        typer.Option(
            "--anchors",
            help="Anchor file to check the chain against "
            "(default: audit-anchors.jsonl in the data directory, when present).",
        ),
    ] = None,
) -> None:
    """Walk the audit chain and check every record against it; name what was tampered with."""
    from lims.audit_anchors import AnchorFileError, check_anchors, read_anchors

    path = _anchor_file(anchors)
    known = []
    if anchors is not None or path.exists():
        try:
            known = read_anchors(path)
        except AnchorFileError as exc:
            raise CliError(str(exc)) from exc
    db = database()
    try:
        with db.read() as s:
            report = verify(s)
            report.problems += check_anchors(s, known)
    finally:
        db.dispose()
    console.print(
        f"checked {report.events} audit events, {report.records} records, "
        f"{report.readings} readings, {len(known)} anchors",
        highlight=False,
    )
    if report.ok:
        console.print("[green]audit trail intact[/green]")
        return
    for problem in report.problems:
        err_console.print(f"[red]TAMPERED[/red] {problem}", highlight=False)
    raise typer.Exit(1)


@app.command("anchor")
def audit_anchor(
    file: Annotated[
        Path | None,
        typer.Option(
            "--file", help="Append the anchor here (default: the data directory's anchor file)."
        ),
    ] = None,
) -> None:
    """Record the chain's newest event (id and SHA-256) outside the database.

    Keep the printed line, or the file, where the database's administrators cannot
    change it: `lims audit verify` then detects a cut or rewritten end of the chain.
    """
    from lims.audit_anchors import append_anchor, current_anchor

    path = _anchor_file(file)
    db = database()
    try:
        with db.read() as s:
            anchor = current_anchor(s)
    finally:
        db.dispose()
    if anchor is None:
        raise CliError("the audit trail holds no event yet: nothing to anchor")
    try:
        append_anchor(path, anchor)
    except OSError as exc:
        raise CliError(f"{path}: cannot write the anchor: {exc}") from exc
    console.print(anchor.to_line(), highlight=False)
    console.print(f"anchored at audit event {anchor.event_id} in {path}", highlight=False)


@app.command("show")
def audit_show(
    user: Annotated[str, typer.Option("--user", help="Your user name (reviewer of the trail).")],
    password_file: Annotated[Path | None, typer.Option("--password-file")] = None,
    record: Annotated[str | None, typer.Option(help="TABLE:ID, e.g. certificates:12.")] = None,
    by: Annotated[str | None, typer.Option("--by", help="Only events of this actor.")] = None,
    start: Annotated[str | None, typer.Option("--from", help="From (ISO date/time, UTC).")] = None,
    end: Annotated[str | None, typer.Option("--to", help="To, exclusive (ISO date/time).")] = None,
    csv_file: Annotated[Path | None, typer.Option("--csv", help="Write CSV here.")] = None,
) -> None:
    """Show audit events for periodic review (Annex 11 §9); optionally export CSV."""
    from lims.cli.common import session_user
    from lims.quality.audit_review import find_events, parse_record, write_csv

    def when(text: str | None, option: str) -> datetime | None:
        if text is None:
            return None
        try:
            value = datetime.fromisoformat(text)
        except ValueError as exc:
            raise CliError(f"{option}: {text!r} is not an ISO date or date-time") from exc
        return value if value.tzinfo else value.replace(tzinfo=UTC)

    rec = parse_record(record) if record else None
    t0, t1 = when(start, "--from"), when(end, "--to")
    db, actor = session_user(user, password_file)
    try:
        with db.read() as s:
            events = find_events(s, actor, record=rec, user=by, start=t0, end=t1)
            if csv_file is not None:
                write_csv(events, csv_file)
                console.print(f"{len(events)} events written to {csv_file}", highlight=False)
                return
            for ev in events:
                console.print(
                    f"{ev.id:>7} {ev.occurred_at:%Y-%m-%d %H:%M:%S} {ev.actor:<16} "
                    f"{ev.action:<14} {ev.table_name}:{ev.record_id}  {ev.reason or ''}",
                    highlight=False,
                )
    finally:
        db.dispose()
    console.print(f"{len(events)} events", highlight=False)
