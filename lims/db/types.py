"""Column types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, DateTime, Dialect, Index, func, literal_column, text
from sqlalchemy.orm import QueryableAttribute
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp, stored as naive UTC on every backend.

    Naive datetimes are refused: every time the lab records is unambiguous.
    """

    impl = DateTime(timezone=False)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: timestamps must carry a timezone")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):  # SQLite text from raw SQL
            value = datetime.fromisoformat(value)
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC)


def utcnow() -> datetime:
    """The current time, timezone-aware UTC, at microsecond precision."""
    return datetime.now(UTC)


#: Hex digits of a content hash that name its archive leaf directory
#: (:mod:`lims.quality.archive`), and what the hash columns are indexed by.
HASH_PREFIX_LENGTH = 4


def hash_prefix(column: ColumnElement[Any] | QueryableAttribute[Any]) -> ColumnElement[str]:
    """``substr(column, 1, 4)`` with its arguments written out, as the expression indexes
    of the archived-file hash columns are (a bound parameter would not match them)."""
    return func.substr(column, literal_column("1"), literal_column(str(HASH_PREFIX_LENGTH)))


def hash_prefix_index(name: str, column: str) -> Index:
    """The index of a hash column by its archive leaf (:func:`hash_prefix`)."""
    return Index(name, text(f"substr({column}, 1, {HASH_PREFIX_LENGTH})"))
