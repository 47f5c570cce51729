"""Shared fixtures: databases on SQLite and PostgreSQL, the Qt platform, artifacts.

Every test that takes ``db`` runs twice: on a fresh SQLite file and on a fresh
PostgreSQL schema. PostgreSQL is at ``LIMS_TEST_PG_URL`` (default: the local
server, user postgres, database ``test``). With ``CI=true`` an unreachable
PostgreSQL fails the run instead of skipping.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from lims.db import Database
from lims.db.migrate import upgrade

PG_URL = os.environ.get("LIMS_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() == "true"
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"


def _pg_schema_url(schema: str) -> str:
    url = make_url(PG_URL)
    return url.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
        hide_password=False
    )


_pg_checked: list[str | None] = []


def pg_available() -> str | None:
    """None if PostgreSQL answers, else why not (checked once per session)."""
    if not _pg_checked:
        try:
            eng = create_engine(PG_URL)
            with eng.connect() as conn:
                conn.execute(text("SELECT 1"))
            eng.dispose()
            _pg_checked.append(None)
        except Exception as exc:  # any connection failure
            _pg_checked.append(f"PostgreSQL at {PG_URL} unreachable: {exc}")
    return _pg_checked[0]


def require_pg() -> None:
    """Skip (or, in CI, fail) when PostgreSQL is not reachable."""
    why = pg_available()
    if why is not None:
        if IN_CI:
            pytest.fail(f"CI=true: {why}")
        pytest.skip(why)


@pytest.fixture
def pg_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A URL to a fresh, empty PostgreSQL schema of this test's own (dropped after)."""
    require_pg()
    schema = f"t_{os.getpid()}_{abs(hash(request.node.nodeid)) % 10**8}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield _pg_schema_url(schema)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL to an empty database, once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'lims.sqlite3'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    """A migrated database (schema at head), on each backend."""
    database = Database(db_url)
    upgrade(database.engine)
    try:
        yield database
    finally:
        database.dispose()


@pytest.fixture
def pg(pg_url: str) -> Iterator[Database]:
    """A migrated PostgreSQL database of this test's own (for what only PostgreSQL has)."""
    database = Database(pg_url)
    upgrade(database.engine)
    try:
        yield database
    finally:
        database.dispose()


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """Where tests leave files for a person to look at (screenshots, PDFs)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
