"""Command-line sessions on this machine: which commands accept one, and the token files.

**The rule.** After ``lims login --user U``, a command given ``--user U`` and no
``--password-file`` identifies U by the session instead of asking for the password, unless
the command is one of :data:`PASSWORD_EVERY_TIME`: electronic signatures and
security-sensitive actions, which authenticate with the password at every use (21 CFR
11.200(a)(1): a signing outside one continuous period of controlled access uses every
signature component; EU GMP Annex 11 §14). A command-line session is not such a period,
so every signing asks for the password. :func:`session_allowed` states the rule and
:func:`resume_session` (called by :func:`lims.cli.common.session_user`) applies it;
nothing else decides it.

**The token file.** ``<data dir>/sessions/<user>.token`` (directory mode 0700, file 0600):
the session's token, one line. The database keeps only its SHA-256
(:mod:`lims.services.cli_sessions`). A file open to other users, owned by another OS
user, or a symbolic link is refused.
"""

from __future__ import annotations

import logging
import os
import stat
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from typer._click.globals import get_current_context

from lims.messages import bilingual

if TYPE_CHECKING:
    from lims.config import Settings
    from lims.db import Database
    from lims.models.users import User

__all__ = [
    "PASSWORD_EVERY_TIME",
    "SessionFileError",
    "read_token",
    "remove_token",
    "resume_session",
    "session_allowed",
    "token_path",
    "write_token",
]

log = logging.getLogger(__name__)

#: Commands (``lims`` left out) that never accept a session, and why. A group's name covers
#: every command of the group. The commands that authenticate by themselves rather than
#: through ``session_user`` (``certificate sign``, ``run``, ``users passwd``, ``keys
#: issue``, ``keys import``) ask for the password anyway; they are listed so that the rule
#: reads whole here and in ``lims login --help``.
PASSWORD_EVERY_TIME: Mapping[str, str] = {
    "certificate sign": "an electronic signature (performed, reviewed, approved)",
    "certificate status-list": "signed with the lab CA's key",
    "run": "the operator's signed record of performing a procedure",
    "override grant": "a quality manager's signed override of a failed rule",
    "users": "account administration and password changes",
    "customers": "customers' portal accounts and API tokens",
    "keys": "signing keys and the lab's PKI",
}

#: What a token written by ``secrets.token_urlsafe`` is made of.
_TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


class SessionFileError(Exception):
    """A token file that cannot be used (unreadable, damaged, open to others)."""


def session_allowed(command_path: str | None = None) -> bool:
    """Whether the command ``command_path`` (``lims certificate list``; default: the
    command running now) may identify its user by a session.

    False outside a command and for :data:`PASSWORD_EVERY_TIME`.
    """
    if command_path is None:
        ctx = get_current_context(silent=True)
        if ctx is None:
            return False
        command_path = ctx.command_path
    words = command_path.split()[1:]
    if not words:
        return False
    return not any(" ".join(words[:n]) in PASSWORD_EVERY_TIME for n in range(1, len(words) + 1))


def token_path(settings: Settings, username: str) -> Path:
    """The token file of the lab user ``username`` under the data directory."""
    return settings.sessions_dir / f"{quote(username, safe='')}.token"


def read_token(path: Path, *, strict: bool = True) -> str | None:
    """The token in ``path``; None when there is no such file.

    ``strict`` (using the session) also refuses a file that another OS user owns or that
    group or others may read or write. Raises :class:`SessionFileError`.
    """
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        return None
    except OSError as exc:
        error = exc.strerror or type(exc).__name__
        raise SessionFileError(bilingual("session.unreadable", path=path, error=error)) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise SessionFileError(
                bilingual("session.unreadable", path=path, error="not a regular file")
            )
        if strict and hasattr(os, "getuid"):
            exposed = info.st_mode & 0o077 or info.st_uid != os.getuid()
            if exposed:
                mode = f"{stat.S_IMODE(info.st_mode):04o}"
                raise SessionFileError(bilingual("session.exposed", path=path, mode=mode))
        data = os.read(fd, 4096)
    except OSError as exc:
        error = exc.strerror or type(exc).__name__
        raise SessionFileError(bilingual("session.unreadable", path=path, error=error)) from None
    finally:
        os.close(fd)
    try:
        token = data.decode("ascii").strip()
    except UnicodeDecodeError:
        token = ""
    if not token or not set(token) <= _TOKEN_CHARS or len(token) > 200:
        raise SessionFileError(bilingual("session.damaged", path=path))
    return token


def write_token(path: Path, token: str) -> None:
    """Write ``token`` to ``path`` (mode 0600, its directory 0700), replacing any file there.

    Raises :class:`OSError`.
    """
    folder = path.parent
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    if stat.S_IMODE(folder.stat().st_mode) != 0o700:
        folder.chmod(0o700)
    temporary = folder / f".{path.name}.{os.getpid()}.tmp"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(temporary, flags, 0o600)
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, 0o600)  # whatever the umask
        os.write(fd, f"{token}\n".encode("ascii"))
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        temporary.unlink(missing_ok=True)
        raise
    os.close(fd)
    try:
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def remove_token(path: Path) -> bool:
    """Delete the token file; whether there was one."""
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True


def resume_session(settings: Settings, username: str) -> tuple[Database, User] | None:
    """The database and ``username`` identified by the session of this machine, or None.

    None (ask for the password, as without sessions) when the running command does not
    accept sessions, sessions are disabled, or ``username`` has no token file here. A
    token file that cannot be used is not used: with a terminal a warning is printed and
    None returned (the password is asked for); without one it is an error, in one line.
    """
    if settings.cli_session_minutes <= 0 or not session_allowed():
        return None
    from rich.text import Text

    from lims.cli.common import CliError, database, err_console
    from lims.services.cli_sessions import SessionError, current_origin, session_owner
    from lims.services.lab import policy_from

    path = token_path(settings, username)
    try:
        token = read_token(path)
        if token is None:
            return None
        db = database(settings)
        try:
            user = session_owner(
                db,
                token,
                username,
                policy_from(settings),
                current_origin(),
                max_minutes=settings.cli_session_minutes,
                source=str(path),
            )
        except BaseException:
            db.dispose()
            raise
    except (SessionFileError, SessionError) as exc:
        log.info("session of %s not used: %s", username, exc)
        if sys.stdin.isatty():
            err_console.print(Text.assemble(("warning:", "yellow"), f" {exc}"), highlight=False)
            return None
        raise CliError(f"{exc}; no terminal to ask for the password: use --password-file") from None
    return db, user
