"""Shared pieces of the command line: settings, database, passwords, error reporting."""

from __future__ import annotations

import getpass
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.text import Text
from sqlalchemy.exc import OperationalError

from lims.config import Settings, load_settings
from lims.db.lengths import ValueTooLongError
from lims.services.lab import NoLabError, open_database, open_lab, policy_from

if TYPE_CHECKING:
    from lims.db import Database
    from lims.models.users import User

console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)

#: Exceptions that are the user's input or the lab's state, reported in one line, by module
#: and class name. They are looked up only among the modules already imported
#: (:func:`user_errors`): a module that was never imported raised nothing, and a command
#: does not import the unit registry, the procedure engine or the PKI just to know the
#: names of their errors.
USER_ERROR_NAMES: tuple[tuple[str, str], ...] = (
    ("lims.config", "ConfigError"),
    ("drivers.units", "UnitParseError"),
    ("lims.security", "AuthenticationError"),
    ("lims.account_policy", "PasswordPolicyError"),
    ("lims.services.users", "UserError"),
    ("lims.audit", "AuditError"),
    ("lims.audit", "ImmutableRecordError"),
    ("sqlalchemy.exc", "ArgumentError"),
    ("lims.services.materials", "MaterialError"),
    ("lims.quality.errors", "QualityError"),
    ("lims.certificates.errors", "CertificateError"),
    ("lims.services.planning.context", "PlanError"),
    ("lims.db.lengths", "ValueTooLongError"),
    ("lims.services.numbering", "NumberingError"),
    ("lims.db.migrate", "MigrationError"),
    ("lims.audit_anchors", "AnchorFileError"),
    ("lims.audit_anchors", "AnchorWriteError"),
    ("lims.services.work_order_status", "WorkOrderStateError"),
    ("lims.services.work_orders", "WorkOrderError"),
    ("lims.services.cli_sessions", "SessionError"),
    ("lims.cli.sessions", "SessionFileError"),
)


def user_errors() -> tuple[type[Exception], ...]:
    """The classes of :data:`USER_ERROR_NAMES` whose modules are imported by now."""
    found: list[type[Exception]] = []
    for module_name, class_name in USER_ERROR_NAMES:
        cls = getattr(sys.modules.get(module_name), class_name, None)
        if isinstance(cls, type) and issubclass(cls, Exception):
            found.append(cls)
    return tuple(found)


class CliError(Exception):
    """An error to report in one line with a non-zero exit status."""

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def settings() -> Settings:
    """The effective settings of this process."""
    return load_settings()


def database(s: Settings | None = None, *, create: bool = False) -> Database:
    """Open the configured database; :class:`CliError` when no lab is there.

    Only commands that make a lab (``create=True``: ``lims db upgrade``, ``lims
    restore``) may open a database that does not exist yet; every other command says
    there is no lab at that location and creates nothing (not even an empty file).
    """
    s = s or settings()
    if create:
        return open_database(s)
    try:
        return open_lab(s)
    except NoLabError as exc:
        raise CliError(str(exc)) from None


def read_password(password_file: Path | None, prompt: str = "Password / 密码: ") -> str:
    """A password from a file (first line) or typed at a prompt without echo."""
    if password_file is not None:
        try:
            text = password_file.read_text(encoding="utf-8")
        except OSError as exc:
            raise CliError(f"{password_file}: cannot read password file: {exc.strerror}") from exc
        lines = text.splitlines()
        if not lines or not lines[0]:
            raise CliError(f"{password_file}: the password file is empty")
        return lines[0]
    if not sys.stdin.isatty():
        raise CliError("no terminal to ask for the password: use --password-file")
    return getpass.getpass(prompt)


UserOpt = Annotated[str, typer.Option("--user", help="Your user name.")]
PasswordOpt = Annotated[
    Path | None, typer.Option("--password-file", help="File whose first line is your password.")
]


def parse_date(text: str, option: str) -> date:
    """A YYYY-MM-DD date or a one-line error naming the option."""
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise CliError(f"{option}: {text!r} is not a date (YYYY-MM-DD)") from exc


def session_user(user: str, password_file: Path | None) -> tuple[Database, User]:
    """Open the database and identify the user: by the password, or by a session.

    Without ``--password-file``, a session of ``user`` opened on this machine by ``lims
    login`` is used when the running command accepts sessions (the rule:
    :func:`lims.cli.sessions.session_allowed`); no password is asked for then. Otherwise
    the user logs in with the password, from ``password_file`` or typed at the prompt
    (failures are recorded, repeated ones lock the account).
    """
    s = settings()
    if password_file is None:
        from lims.cli.sessions import resume_session

        resumed = resume_session(s, user)
        if resumed is not None:
            return resumed
    from lims.quality.accounts import login

    password = read_password(password_file)
    db = database(s)
    try:
        return db, login(db, user, password, policy_from(s))
    except BaseException:
        db.dispose()
        raise


def report_error(exc: BaseException) -> int:
    """Print one line for an expected error; return the exit status."""
    if isinstance(exc, CliError):
        err_console.print(f"[red]error:[/red] {exc}", highlight=False)
        return exc.exit_code
    if isinstance(exc, OperationalError):
        first = str(exc.orig).strip().splitlines()[0] if str(exc.orig).strip() else "no reason"
        if exc.statement is None or exc.connection_invalidated:
            what = "database unreachable"
        else:
            what = "the database could not carry out the command"
        err_console.print(f"[red]error:[/red] {what}: {first}", highlight=False)
        return 3
    err_console.print(Text.assemble(("error:", "red"), f" {exc}"), highlight=False)
    return 12 if type(exc).__name__ in ("PreflightRefusedError", "BenchUnfitError") else 2


def quantity(text: str, option: str, like: str | None = None) -> Any:
    """A typed quantity, or a one-line error naming the option it came from."""
    from lims.units import UnitParseError, parse_quantity

    try:
        return parse_quantity(text, like)
    except UnitParseError as exc:
        raise CliError(f"{option}: {exc}") from exc


@contextmanager
def options_for(columns: dict[str, str]) -> Iterator[None]:
    """Name the option (``{"users.full_name": "--name"}``) when its value is too long."""
    try:
        yield
    except ValueTooLongError as exc:
        option = columns.get(f"{exc.table}.{exc.column}")
        if option is None:
            raise
        raise CliError(
            f"{option}: {exc.length} characters, at most {exc.limit} are allowed; "
            "nothing was written"
        ) from exc


def fail(message: str, exit_code: int = 2) -> typer.Exit:
    """Print ``message`` as an error and return the exit to raise."""
    err_console.print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(exit_code)
