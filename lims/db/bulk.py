"""Rows inserted with one multi-row ``INSERT`` per chunk.

An ``executemany`` runs its statement once per row on PostgreSQL (psycopg), and with it every
statement-level trigger: the insert guard of the chained tables (migration 0025) would then
query the audit trail once per reading. One ``INSERT … VALUES (…), (…)`` per chunk runs it
once per chunk, within PostgreSQL's limit of 65 535 parameters per statement.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Table, insert
from sqlalchemy.orm import Session

from lims.db.lengths import check_row

__all__ = ["insert_rows"]

#: Parameters per statement, well below PostgreSQL's limit (65 535).
_PARAMETERS = 30_000


def insert_rows(bind: Connection | Session, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert ``rows`` (dicts of column values, all with the same keys) into ``table`` in as
    few statements as the parameter limit allows, each value's length checked first."""
    if not rows:
        return
    for row in rows:
        check_row(table, row)
    per_statement = max(1, _PARAMETERS // max(1, len(rows[0])))
    for first in range(0, len(rows), per_statement):
        bind.execute(insert(table).values(list(rows[first : first + per_statement])))
