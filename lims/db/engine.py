"""Engine and session set-up for SQLite (one bench) and PostgreSQL (a whole lab).

SQLite is opened with WAL, foreign keys on, ``synchronous=FULL`` (a committed
reading survives a power cut) and a busy timeout. Write transactions on SQLite
start with ``BEGIN IMMEDIATE`` so that two writers never deadlock on a lock
upgrade; read transactions stay deferred and never block writers.

Engines hide bound parameters from error messages and logs: a failed statement
never shows the values it carried (a password hash, a key, a customer's data).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session, sessionmaker

_BEGIN_OPTION = "lims_sqlite_begin"
#: ``session.info`` key: when true, an audited change without a reason is refused at flush.
REQUIRE_REASON = "require_reason"


def make_engine(url: str | URL, *, busy_timeout_ms: int = 10_000, echo: bool = False) -> Engine:
    """Create an engine with the lab's connection settings for the URL's backend."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(
            parsed,
            echo=echo,
            hide_parameters=True,
            connect_args={"timeout": busy_timeout_ms / 1000, "check_same_thread": False},
        )
        _configure_sqlite(engine, busy_timeout_ms)
        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.get_driver_name() != "psycopg":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return create_engine(parsed, echo=echo, pool_pre_ping=True, hide_parameters=True)


def _configure_sqlite(engine: Engine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take over transaction control from the sqlite3 module (SQLAlchemy recipe).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = conn.get_execution_options().get(_BEGIN_OPTION, "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")


class Database:
    """One database: an engine plus read and write session factories."""

    def __init__(
        self, url: str | URL, *, busy_timeout_ms: int = 10_000, require_reason: bool = False
    ) -> None:
        self.url = make_url(url)
        #: Refuse audited changes that carry no reason (otherwise they are stored without
        #: one and counted by ``lims audit verify`` and ``lims audit show --summary``).
        self.require_reason = require_reason
        self.engine = make_engine(self.url, busy_timeout_ms=busy_timeout_ms)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        write_bind = (
            self.engine.execution_options(**{_BEGIN_OPTION: "IMMEDIATE"})
            if self.is_sqlite
            else self.engine
        )
        self._read = sessionmaker(self.engine, expire_on_commit=False)
        self._write = sessionmaker(write_bind, expire_on_commit=False)

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session for reading; it is rolled back at the end."""
        with self._read() as session:
            try:
                yield session
            finally:
                session.rollback()

    @contextmanager
    def write(self, actor: Any = None, reason: str | None = None) -> Iterator[Session]:
        """A session that commits at the end, or rolls back on error.

        ``actor`` (a :class:`lims.models.User`, or a system actor name) and
        ``reason`` are attached to every audit event the session writes;
        :func:`lims.audit.reason` gives a part of the transaction its own reason.
        """
        with self._write() as session:
            session.info["actor"] = actor
            session.info["reason"] = reason
            session.info[REQUIRE_REASON] = self.require_reason
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()
