"""Column lengths enforced by the application, the same way on every backend.

PostgreSQL refuses a value longer than a ``VARCHAR(n)`` column; SQLite stores it.
So that both backends agree, every string written through the ORM is checked
against its column's length at flush time (one hook for every model), and the
code that inserts rows through SQLAlchemy Core checks them with :func:`check_row`.
The error names the table, the column and both lengths, never the value (it may be
a password hash or a key).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from sqlalchemy import Enum, String, Table, event, inspect
from sqlalchemy.orm import Session, UOWTransaction

from lims.db.base import Base


class ValueTooLongError(ValueError):
    """A string longer than its column allows."""

    def __init__(self, table: str, column: str, limit: int, length: int) -> None:
        super().__init__(
            f"{table}.{column}: {length} characters, at most {limit} are allowed; "
            "nothing was written"
        )
        self.table = table
        self.column = column
        self.limit = limit
        self.length = length


@cache
def string_limits(table: Table) -> dict[str, int]:
    """``{column name: maximal length}`` of the bounded string columns of ``table``."""
    return {
        c.name: int(c.type.length)
        for c in table.columns
        if isinstance(c.type, String) and not isinstance(c.type, Enum) and c.type.length
    }


def check_row(table: Table, values: Mapping[str, Any]) -> None:
    """Raise :class:`ValueTooLongError` if a value of ``values`` exceeds its column."""
    for name, limit in string_limits(table).items():
        value = values.get(name)
        if isinstance(value, str) and len(value) > limit:
            raise ValueTooLongError(table.name, name, limit, len(value))


def check_instance(obj: Base) -> None:
    """Raise :class:`ValueTooLongError` if a string attribute of ``obj`` exceeds its column."""
    mapper = inspect(obj).mapper
    for attr in mapper.column_attrs:
        column = attr.columns[0]
        table = column.table
        if not isinstance(table, Table):
            continue
        limit = string_limits(table).get(column.name)
        if limit is None:
            continue
        value = getattr(obj, attr.key)
        if isinstance(value, str) and len(value) > limit:
            raise ValueTooLongError(table.name, column.name, limit, len(value))


def _before_flush(session: Session, _ctx: UOWTransaction, _instances: object) -> None:
    for obj in list(session.new) + list(session.dirty):
        if isinstance(obj, Base):
            check_instance(obj)


def install() -> None:
    """Check lengths at every ORM flush (idempotent)."""
    if not event.contains(Session, "before_flush", _before_flush):
        event.listen(Session, "before_flush", _before_flush)


install()
