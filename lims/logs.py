"""The application's log: one rotating file in the data directory, never a secret.

Every front end (command line, desktop app, portal) logs through :mod:`logging` to
``<data dir>/logs/lims.log`` at the level the settings name (``log_level``, default INFO):
what runs start and end, instrument errors, refusals, tracebacks of unexpected failures.
What is written carries no secret: password hashes and private keys are blanked, a
database error is cut to its first line (PostgreSQL's ``DETAIL`` quotes row values), SQL
parameters are never bound into messages (the engines hide them).
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import re
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = [
    "LOG_LEVELS",
    "configure_logging",
    "exception_message",
    "safe_traceback",
    "scrub",
]

#: The levels a lab may set (``log_level`` in the settings).
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
#: Size of one log file and how many older files are kept.
MAX_BYTES = 5_000_000
BACKUPS = 5

_LOG_FORMAT = "%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"
_KEY = r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)"
_SECRETS = (
    (re.compile(r"\$argon2[a-z]*\$[^\s'\"),]*"), "[password hash hidden]"),
    (
        re.compile(_KEY, re.S),
        "[private key hidden]",
    ),
)
_MAX_MESSAGE = 2000


def scrub(text: str) -> str:
    """``text`` with password hashes and private keys blanked."""
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


def _is_database_error(exc: BaseException) -> bool:
    kinds = [type(exc), *type(exc).__mro__]
    return any(k.__module__.split(".")[0] in {"sqlalchemy", "psycopg", "sqlite3"} for k in kinds)


def exception_message(exc: BaseException) -> str:
    """What an exception says, safe to log: a database error's first line, secrets blanked."""
    text = str(exc)
    if _is_database_error(exc):
        text = text.strip().splitlines()[0] if text.strip() else ""
    if len(text) > _MAX_MESSAGE:
        text = text[:_MAX_MESSAGE] + f"… ({len(text)} characters)"
    return scrub(text)


def safe_traceback(exc: BaseException) -> str:
    """The traceback of ``exc`` and its causes, with every message made safe to log."""
    chain: list[BaseException] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        chain.append(current)
        seen.add(id(current))
        current = current.__cause__ or (
            None if current.__suppress_context__ else current.__context__
        )
    parts: list[str] = []
    for item in reversed(chain):
        if parts:
            parts.append("\nwhich led to:\n")
        parts.append("Traceback (most recent call last):\n")
        parts.extend(traceback.format_tb(item.__traceback__))
        parts.append(f"{type(item).__module__}.{type(item).__qualname__}: ")
        parts.append(exception_message(item) + "\n")
    return "".join(parts)


class _SafeFormatter(logging.Formatter):
    def formatException(self, ei: object) -> str:  # noqa: N802  (logging's name)
        exc = ei[1] if isinstance(ei, tuple) and len(ei) == 3 else None
        if isinstance(exc, BaseException):
            return safe_traceback(exc).rstrip("\n")
        return ""

    def format(self, record: logging.LogRecord) -> str:
        # another handler may have cached the plain traceback on the record: never reuse it
        cached, record.exc_text = record.exc_text, None
        try:
            return scrub(super().format(record))
        finally:
            record.exc_text = cached


class _LazyFileHandler(logging.handlers.RotatingFileHandler):
    """A rotating log file (and its directory) created only when something is logged."""

    def _open(self):  # type: ignore[no-untyped-def]
        Path(self.baseFilename).parent.mkdir(parents=True, exist_ok=True)
        return super()._open()


def configure_logging(log_file: Path, level: str = "INFO") -> None:
    """Send the application's log at ``level`` to ``log_file`` (rotated); nothing to the
    terminal. Libraries' own chatter is kept at WARNING."""
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        raise ValueError(f"log level {level!r}: use one of {', '.join(LOG_LEVELS)}")
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, "_lims_log", False)]:
        root.removeHandler(handler)
        handler.close()
    handler = _LazyFileHandler(
        os.fspath(log_file), maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8", delay=True
    )
    handler.setFormatter(_SafeFormatter(_LOG_FORMAT))
    handler.setLevel(numeric)
    handler._lims_log = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(min(numeric, logging.WARNING))
    for ours in ("lims", "drivers", "procedures", "ui"):
        logging.getLogger(ours).setLevel(numeric)
    logging.captureWarnings(True)


@contextmanager
def file_logging_suspended() -> Iterator[None]:
    """Nothing is written to the log file meanwhile (an offline verifier writes nothing)."""
    root = logging.getLogger()
    ours = [h for h in root.handlers if getattr(h, "_lims_log", False)]
    for handler in ours:
        root.removeHandler(handler)
    quiet = logging.NullHandler()  # and nothing to the terminal through logging's last resort
    root.addHandler(quiet)
    try:
        yield
    finally:
        root.removeHandler(quiet)
        for handler in ours:
            root.addHandler(handler)
