"""``lims login`` and ``lims logout``: a command-line session, so that queries need the
password once rather than at every command (see :mod:`lims.cli.sessions` for the rule)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import typer

from lims.cli.common import CliError, PasswordOpt, UserOpt, console, database, read_password
from lims.cli.common import settings as current_settings
from lims.cli.sessions import (
    PASSWORD_EVERY_TIME,
    SessionFileError,
    read_token,
    remove_token,
    token_path,
    write_token,
)
from lims.messages import bilingual
from lims.services.lab import policy_from

if TYPE_CHECKING:
    from datetime import datetime

app = typer.Typer()  # ``login`` and ``logout`` are commands of the root
log = logging.getLogger(__name__)


def _rule() -> str:
    """The commands that never accept a session, as the help states them."""
    return ", ".join(f"lims {name}" for name in PASSWORD_EVERY_TIME)


#: ``lims login --help``: one line per paragraph (the help renderer wraps them).
LOGIN_HELP = "\n\n".join(
    [
        "Log in once: your next commands run without the password until the session ends.",
        "The session lasts cli_session_minutes (a setting, default 30; 0 turns sessions off). "
        "Its token is kept in <data dir>/sessions/USER.token, readable by you only (the "
        "database keeps only its SHA-256). A command given --user USER and no "
        "--password-file then identifies you by the session: no password, no prompt. An "
        "explicit --password-file always logs in with the password.",
        "A session is refused when it has expired or was closed, its token was altered, it "
        "is another user's, it was opened on another machine or by another OS account, or "
        "the account has been locked, deactivated or has expired since.",
        "Electronic signatures and security-sensitive actions still ask for the password "
        f"every time (21 CFR 11.200, EU GMP Annex 11 §14): {_rule()} (for a group: every "
        "command of it).",
        "Opening and closing a session are recorded in the audit trail. `lims logout` ends it.",
    ]
)


def _when(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC"


@app.command("login", help=LOGIN_HELP)
def login_command(user: UserOpt, password_file: PasswordOpt = None) -> None:
    """Log in with the password and open a command-line session (see :data:`LOGIN_HELP`)."""
    from lims.quality.accounts import login
    from lims.services.cli_sessions import close_session, current_origin, open_session

    s = current_settings()
    minutes = s.cli_session_minutes
    if minutes <= 0:
        raise CliError(bilingual("session.disabled"))
    path = token_path(s, user)
    try:
        previous = read_token(path, strict=False)
    except SessionFileError:
        previous = None  # overwritten below
    password = read_password(password_file)
    db = database(s)
    try:
        actor = login(db, user, password, policy_from(s))
        opened = open_session(db, actor, minutes, current_origin(), replaces=previous)
        try:
            write_token(path, opened.token)
        except OSError as exc:
            close_session(db, opened.token, "CLI session closed: its token file was not written")
            error = exc.strerror or type(exc).__name__
            raise CliError(bilingual("session.unwritable", path=path, error=error)) from None
    finally:
        db.dispose()
    log.info("CLI session %d of %s opened until %s", opened.id, user, _when(opened.expires_at))
    console.print(
        bilingual("session.opened", user=user, until=_when(opened.expires_at), minutes=minutes),
        highlight=False,
    )


@app.command("logout")
def logout_command(user: UserOpt) -> None:
    """End your command-line session: the next commands ask for the password again."""
    from lims.services.cli_sessions import close_session

    s = current_settings()
    path = token_path(s, user)
    try:
        token = read_token(path, strict=False)
    except SessionFileError as exc:
        try:
            remove_token(path)
        except OSError:
            raise exc from None  # the file stays: why it could not be read is the error
        console.print(bilingual("session.stale_removed", path=path), highlight=False)
        return
    if token is None:
        console.print(bilingual("session.none", user=user), highlight=False)
        return
    try:
        db = database(s)
        try:
            closed = close_session(db, token, "CLI session closed by lims logout")
        finally:
            db.dispose()
    finally:
        remove_token(path)
    log.info("CLI session of %s: logout (%s)", user, "closed" if closed else "none open")
    if closed is None:
        console.print(bilingual("session.stale_removed", path=path), highlight=False)
    else:
        console.print(bilingual("session.closed", user=closed), highlight=False)
