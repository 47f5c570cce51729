"""``lims backup FILE`` and ``lims restore FILE``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lims.cli.common import PasswordOpt, UserOpt, console, database, session_user, settings
from lims.quality.backup import backup, restore

# Each is a group with no subcommand (so ``lims backup FILE`` works): options may follow FILE.
_OPTIONS_AFTER_FILE = {"allow_interspersed_args": True}
backup_app = typer.Typer(
    help="Write a consistent backup of the database and archived files.",
    context_settings=_OPTIONS_AFTER_FILE,
)
restore_app = typer.Typer(
    help="Restore a backup into an EMPTY database and verify it.",
    context_settings=_OPTIONS_AFTER_FILE,
)


@backup_app.callback(invoke_without_command=True)
def backup_command(
    file: Annotated[Path, typer.Argument(help="The backup file to create (.zip).")],
    user: UserOpt,
    password_file: PasswordOpt = None,
) -> None:
    """Back up every table and archived file, with a manifest of hashes (administrators)."""
    db, actor = session_user(user, password_file)
    try:
        s = settings()
        manifest = backup(db, actor, s.archive_dir, file, s.anchor_file)
    finally:
        db.dispose()
    rows = sum(int(t["rows"]) for t in manifest.tables.values())
    console.print(
        f"backup written: {file} ({rows} rows, {len(manifest.files)} files, "
        f"{manifest.anchors.get('lines', 0)} anchors, schema {manifest.schema_revision})",
        highlight=False,
    )


@restore_app.callback(invoke_without_command=True)
def restore_command(
    file: Annotated[Path, typer.Argument(help="The backup file.")],
) -> None:
    """Restore into the configured (empty) database; succeed only when verified."""
    s = settings()
    db = database(s, create=True)
    try:
        report = restore(db, s.archive_dir, file, s.anchor_file)
    finally:
        db.dispose()
    console.print(
        f"restored and verified: {sum(report.rows.values())} rows, {report.files} "
        f"files, {report.anchors} anchors, audit chain of {report.audit_events} events intact",
        highlight=False,
    )
