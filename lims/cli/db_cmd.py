"""``lims db``: schema migrations."""

from __future__ import annotations

import typer

from lims.cli.common import console, database
from lims.db.migrate import current_revision, head_revision, upgrade

app = typer.Typer(help="Database schema: upgrade and show the revision.", no_args_is_help=True)


@app.command("upgrade")
def db_upgrade() -> None:
    """Upgrade the database schema to the newest revision of this software."""
    db = database(create=True)
    try:
        upgrade(db.engine)
        console.print(f"database at {current_revision(db.engine)} (head)", highlight=False)
    finally:
        db.dispose()


@app.command("current")
def db_current() -> None:
    """Print the schema revision of the database and whether it is the newest."""
    db = database()
    try:
        current = current_revision(db.engine)
        head = head_revision()
        state = "head" if current == head else f"behind head {head}: run `lims db upgrade`"
        console.print(f"{current or '(empty database)'} ({state})", highlight=False)
    finally:
        db.dispose()
