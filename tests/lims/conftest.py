"""Fixtures of the foundation tests: one lab per module and backend, tampered inside rollbacks."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Connection, create_engine, text
from sqlalchemy.orm import Session

from lims.audit import verify
from lims.db import Database
from lims.db.migrate import upgrade
from tests.conftest import PG_URL, _pg_schema_url, require_pg
from tests.lims._lab import Lab, build_lab, drop_guard

LabDb = tuple[Database, Lab]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def lab_db(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LabDb]:
    """A migrated database holding the test lab (shared by a module; tests must roll back)."""
    admin = None
    schema = ""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('lab') / 'lims.sqlite3'}"
    else:
        require_pg()
        schema = f"m_{os.getpid()}_{abs(hash(request.node.nodeid)) % 10**8}"
        admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = _pg_schema_url(schema)
    database = Database(url)
    try:
        upgrade(database.engine)
        yield database, build_lab(database)
    finally:
        database.dispose()
        if admin is not None:
            with admin.connect() as conn:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            admin.dispose()


def problems_after(
    db: Database, table: str | None, edit: Callable[[Connection], object]
) -> list[str]:
    """Drop ``table``'s guard triggers, apply ``edit`` in plain SQL, verify, then roll back."""
    with db.engine.connect() as conn:
        trans = conn.begin()
        try:
            if table is not None:
                drop_guard(conn, table)
            edit(conn)
            with Session(bind=conn) as s:
                return [str(p) for p in verify(s).problems]
        finally:
            trans.rollback()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A SQLite URL in a fresh temporary directory."""
    return f"sqlite:///{tmp_path / 'lims.sqlite3'}"
