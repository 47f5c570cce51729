"""The command line's error boundary: one line on the terminal, the details in a log file.

Diagnostics (warnings of libraries, tracebacks of unexpected failures) go through
:mod:`logging` to ``<data dir>/logs/lims.log``, never to the terminal. What is
logged carries no secret: SQL parameters are never bound into messages (the
engines hide them), database messages are cut to their first line (PostgreSQL's
``DETAIL`` lines quote row values), and anything that looks like a password hash or
a private key is blanked before it is written.
"""

from __future__ import annotations

import logging
import os
import re
import traceback
from pathlib import Path

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


class _LazyFileHandler(logging.FileHandler):
    """A log file (and its directory) created only when something is logged."""

    def _open(self):  # type: ignore[no-untyped-def]
        Path(self.baseFilename).parent.mkdir(parents=True, exist_ok=True)
        return super()._open()


def configure_logging(log_file: Path) -> None:
    """Send warnings and errors of every logger to ``log_file``; nothing to the terminal."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, "_lims_cli", False)]:
        root.removeHandler(handler)
        handler.close()
    handler = _LazyFileHandler(os.fspath(log_file), encoding="utf-8", delay=True)
    handler.setFormatter(_SafeFormatter(_LOG_FORMAT))
    handler.setLevel(logging.WARNING)
    handler._lims_cli = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    if root.level == logging.NOTSET or root.level > logging.WARNING:
        root.setLevel(logging.WARNING)
    logging.captureWarnings(True)
