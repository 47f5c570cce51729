"""The portal's lab, once per backend for the whole session (issuing certificates takes time)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text
from starlette.testclient import TestClient

from lims.db import Database
from lims.portal import create_app
from tests.certificate_service.builder import lab_database
from tests.conftest import PG_URL, _pg_schema_url, require_pg
from tests.portal._lab import PortalLab, build_portal_lab, pg_roles


def _sqlite_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PortalLab]:
    url = f"sqlite:///{tmp_path_factory.mktemp('portal') / 'lims.sqlite3'}"
    db = lab_database(url)
    try:
        yield build_portal_lab(db, url, url, url)
    finally:
        db.dispose()


def _pg_lab() -> Iterator[PortalLab]:
    require_pg()
    schema = f"portal_{os.getpid()}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = _pg_schema_url(schema)
    db = lab_database(url)
    try:
        with pg_roles(schema) as (read_url, accounts_url):
            yield build_portal_lab(db, url, read_url, accounts_url)
    finally:
        db.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def portal_lab(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PortalLab]:
    """The portal's lab on each backend."""
    if request.param == "sqlite":
        yield from _sqlite_lab(tmp_path_factory)
    else:
        yield from _pg_lab()


@pytest.fixture(scope="session")
def sqlite_portal_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PortalLab]:
    """The portal's lab on SQLite only (for the browser walk)."""
    yield from _sqlite_lab(tmp_path_factory)


@pytest.fixture
def client(portal_lab: PortalLab) -> Iterator[TestClient]:
    """An HTTP client of a fresh portal process (its own sessions and limits)."""
    app = create_app(portal_lab.portal_config())
    with TestClient(app, base_url="http://portal.test") as c:
        yield c


def lab_db(lab: PortalLab) -> Database:
    """A full-privilege connection, for the test to read what happened."""
    return Database(lab.url)
