"""Opening the lab's database for reading only (the web portal's path).

* SQLite is opened through a ``mode=ro`` URI: the SQLite library itself refuses
  every write on the connection.
* PostgreSQL connections start every transaction read-only
  (``default_transaction_read_only``); the lab should also connect them as a role
  that holds nothing but SELECT (README: "Verification and customer portal").
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import SQLAlchemyError

from lims.db.engine import Database
from lims.db.migrate import current_revision, head_revision

__all__ = ["open_read_only", "read_only_problem", "read_only_url"]

_PG_READ_ONLY = "-c default_transaction_read_only=on"


def read_only_url(url: str | URL) -> URL:
    """The same database, opened so that no write can go through the connection."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        database = parsed.database or ""
        if not database or database == ":memory:":
            raise ValueError("an in-memory SQLite database cannot be opened read-only")
        if database.startswith("file:"):
            raise ValueError(f"give the database as a path, not as a URI: {database}")
        path = quote(str(Path(database).resolve()), safe="/")
        return URL.create("sqlite", database=f"file:{path}", query={"mode": "ro", "uri": "true"})
    if backend == "postgresql":
        options = parsed.query.get("options", "")
        if isinstance(options, tuple):
            options = " ".join(options)
        joined = f"{options} {_PG_READ_ONLY}".strip() if options else _PG_READ_ONLY
        return parsed.update_query_dict({"options": joined})
    raise ValueError(f"unsupported database {backend!r}")


def open_read_only(url: str | URL, *, busy_timeout_ms: int = 10_000) -> Database:
    """A :class:`Database` whose connections cannot write (see the module docstring)."""
    return Database(read_only_url(url), busy_timeout_ms=busy_timeout_ms)


def read_only_problem(url: str | URL, *, busy_timeout_ms: int = 10_000) -> str | None:
    """Why the database cannot be read through the read-only path (unreachable, empty,
    not at the schema this software expects), or None when it can."""
    try:
        db = open_read_only(url, busy_timeout_ms=busy_timeout_ms)
    except ValueError as exc:
        return f"the lab database cannot be opened read-only: {exc}"
    try:
        revision = current_revision(db.engine)
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        return f"the lab database cannot be read: {reason}"
    finally:
        db.dispose()
    if revision is None:
        return "the lab database is empty: run `lims init` first"
    if revision != head_revision():
        return f"the lab database is at revision {revision}: run `lims db upgrade` first"
    return None
