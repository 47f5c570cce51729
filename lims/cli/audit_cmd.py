"""``lims audit``: verify, anchor and review the audit trail."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.orm import Session

from lims.cli.common import CliError, console, database, err_console, settings
from lims.models.users import User

app = typer.Typer(help="The audit trail: verify, anchor and review it.", no_args_is_help=True)


@app.command("verify")
def audit_verify(
    anchors: Annotated[
        list[Path] | None,
        typer.Option(
            "--anchors",
            help="Another anchor file to check the chain against (repeatable); the data "
            "directory's anchor file and the configured anchor_copy are always checked.",
        ),
    ] = None,
    full: Annotated[
        bool,
        typer.Option(
            "--full", help="Walk every event, reading and exchange, ignoring checkpoints."
        ),
    ] = False,
    checkpoint: Annotated[
        bool,
        typer.Option(
            "--checkpoint",
            help="When intact, record a checkpoint (an anchored audit event) where the next "
            "verification starts.",
        ),
    ] = False,
) -> None:
    """Check the audit chain, every record, reading chain, instrument I/O chain, run plan,
    synchronized laptop event, certificate number, archived file and anchor.

    From the newest anchored checkpoint on, the events are walked in full and every
    audited table's digest, every run's chain count and head are re-compared; --full
    also re-hashes every older event, reading and exchange. Exit 0 intact, 1 TAMPERED
    (each finding named), 4 CANNOT CONFIRM (an anchor destination out of reach, or a
    trail never anchored outside the database).
    """
    from lims.audit_anchors import AnchorFileError, AnchorWriteError
    from lims.audit_checkpoint import write_checkpoint
    from lims.integrity import IntegrityVerdict, check_integrity, verification_session
    from lims.messages import bilingual

    s = settings()
    extra = list(anchors or [])
    for path in extra:
        if not path.is_file():
            raise CliError(f"--anchors: {path} does not exist")
    db = database(s)
    try:
        with verification_session(db) as session:
            report = check_integrity(
                session,
                archive_dir=s.archive_dir,
                anchor_file=s.anchor_file,
                anchor_copies=s.anchor_copies,
                extra_anchor_files=extra,
                full=full,
            )
        written = None
        if checkpoint and report.verdict is IntegrityVerdict.INTACT:
            written = write_checkpoint(
                db,
                report.trail,
                s.anchor_file,
                s.anchor_copies,
                anchor_files=report.anchors.files,
                archive_clock=report.archive_clock,
            )
    except (AnchorFileError, AnchorWriteError) as exc:
        raise CliError(str(exc)) from exc
    finally:
        db.dispose()
    trail = report.trail
    if trail.mode == "incremental":
        walk = bilingual("audit.walk_incremental", checkpoint=trail.since, covers=trail.covers)
    else:
        walk = bilingual("audit.walk_full")
    console.print(walk, highlight=False)
    console.print(
        f"checked {trail.events} audit events, {trail.records} records, "
        f"{trail.readings} readings, {report.archived_files} archived files"
        f"{'' if report.archive_listed_all else ' in directories changed since the checkpoint'}, "
        f"{report.anchors.anchors} anchors",
        highlight=False,
    )
    if trail.unreasoned:
        console.print(
            f"note: {trail.unreasoned} audited changes carry no reason (EU GMP Annex 11 §9); "
            "see `lims audit show --summary`",
            highlight=False,
        )
    verdict = report.verdict
    if verdict is IntegrityVerdict.TAMPERED:
        for problem in report.problems:
            err_console.print(f"[red]TAMPERED[/red] {problem}", highlight=False)
    elif verdict is IntegrityVerdict.CANNOT_CONFIRM:
        for doubt in report.doubts:
            err_console.print(f"[yellow]CANNOT CONFIRM[/yellow] {doubt}", highlight=False)
    else:
        tail = (
            f"; the {report.anchors.unanchored} newer events rest on the database alone "
            "until the next anchor"
            if report.anchors.unanchored
            else ""
        )
        console.print(
            f"[green]audit trail intact[/green] (anchored up to event "
            f"{report.anchors.anchored_to}{tail})",
            highlight=False,
        )
    if written is not None:
        cp, anchor = written
        console.print(
            bilingual(
                "audit.checkpoint_written",
                checkpoint=cp.event_id,
                covers=cp.covers,
                anchored=anchor.event_id if anchor else "?",
            ),
            highlight=False,
        )
    elif checkpoint:
        err_console.print(bilingual("audit.checkpoint_refused"), highlight=False)
    raise typer.Exit(verdict.exit_code)


@app.command("anchor")
def audit_anchor(
    to: Annotated[
        Path | None,
        typer.Option(
            "--to",
            "--file",
            help="Also append the anchor to this file (another volume, a share, a USB key).",
        ),
    ] = None,
) -> None:
    """Record the chain's newest event (id and SHA-256) outside the database.

    The anchor goes to the data directory's anchor file (counted in the database),
    to the configured anchor_copy and to --to. Keep one of them where the database's
    administrators cannot change it: `lims audit verify` then detects a cut or
    rewritten chain, and anchors removed.
    """
    from lims.audit_anchors import AnchorWriteError, write_anchor

    s = settings()
    copies = [*s.anchor_copies, *([to] if to is not None else [])]
    db = database(s)
    try:
        anchor = write_anchor(db, s.anchor_file, copies)
    except AnchorWriteError as exc:
        raise CliError(str(exc)) from exc
    finally:
        db.dispose()
    if anchor is None:
        raise CliError("the audit trail holds no event yet: nothing to anchor")
    console.print(anchor.to_line(), highlight=False)
    where = ", ".join(str(p) for p in [s.anchor_file, *copies])
    console.print(f"anchored at audit event {anchor.event_id} in {where}", highlight=False)


def _when(text: str | None, option: str) -> datetime | None:
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise CliError(f"{option}: {text!r} is not an ISO date or date-time") from exc
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@app.command("show")
def audit_show(
    user: Annotated[str, typer.Option("--user", help="Your user name (reviewer of the trail).")],
    password_file: Annotated[Path | None, typer.Option("--password-file")] = None,
    record: Annotated[str | None, typer.Option(help="TABLE:ID, e.g. certificates:12.")] = None,
    by: Annotated[str | None, typer.Option("--by", help="Only events of this actor.")] = None,
    start: Annotated[str | None, typer.Option("--from", help="From (ISO date/time, UTC).")] = None,
    end: Annotated[str | None, typer.Option("--to", help="To, exclusive (ISO date/time).")] = None,
    csv_file: Annotated[Path | None, typer.Option("--csv", help="Write CSV here.")] = None,
    summary: Annotated[
        bool,
        typer.Option("--summary", help="Counts of the period's events by table, actor and reason."),
    ] = False,
) -> None:
    """Show audit events for periodic review (Annex 11 §9); optionally export CSV or summarize."""
    from lims.cli.common import session_user
    from lims.quality.audit_review import find_events, parse_record, write_csv

    rec = parse_record(record) if record else None
    t0, t1 = _when(start, "--from"), _when(end, "--to")
    if summary and (rec is not None or by is not None or csv_file is not None):
        raise CliError("--summary counts a whole period: use it with --from/--to only")
    db, actor = session_user(user, password_file)
    try:
        with db.read() as s:
            if summary:
                _print_summary(s, actor, t0, t1)
                return
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


def _print_summary(
    session: Session, actor: User, start: datetime | None, end: datetime | None
) -> None:
    from lims.quality.audit_review import summarize_events

    summary = summarize_events(session, actor, start=start, end=end)
    period = (
        f"{summary.start.isoformat() if summary.start else 'the beginning'} – "
        f"{summary.end.isoformat() if summary.end else 'now'}"
    )
    console.print(f"audit events {period}: {summary.events}", highlight=False)
    console.print(
        f"changes of records: {summary.changes}, of which without a reason: "
        f"{summary.changes_without_reason}",
        highlight=False,
    )
    for title, rows in (
        ("by table", summary.by_table),
        ("by actor", summary.by_actor),
        ("by reason", summary.by_reason),
    ):
        console.print(f"{title}:", highlight=False)
        for key, count in rows:
            console.print(f"  {count:>7}  {key}", highlight=False)
