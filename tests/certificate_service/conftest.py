"""A demo lab per module and backend, with fabricated completed runs."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text

from lims.db import Database
from tests.certificate_service.builder import lab_database
from tests.conftest import PG_URL, _pg_schema_url, require_pg


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def lab(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Database]:
    """A migrated demo lab (users with signing keys) on each backend."""
    admin = None
    schema = ""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('certs') / 'lims.sqlite3'}"
    else:
        require_pg()
        schema = f"c_{os.getpid()}_{abs(hash(request.node.nodeid)) % 10**8}"
        admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = _pg_schema_url(schema)
    db = lab_database(url)
    try:
        yield db
    finally:
        db.dispose()
        if admin is not None:
            with admin.connect() as conn:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            admin.dispose()
