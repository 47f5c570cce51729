"""Declarative base, naming convention and shared column helpers."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar

from sqlalchemy import JSON, Enum, MetaData, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from lims.db.types import UTCDateTime, utcnow

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

JSONType = JSON().with_variant(JSONB(), "postgresql")


class Base(DeclarativeBase):
    """Base of every ORM model."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSONType,
    }

    #: Whether changes to rows of this model go into the audit trail.
    __audited__: bool = True
    #: Whether rows are append-only (never updated or deleted once written).
    __append_only__: bool = False


def enum_column(enum_cls: type[StrEnum], **kwargs: Any) -> Any:
    """A portable enum column stored as its string value (no native DB enum type)."""
    length = max(len(m.value) for m in enum_cls)
    return mapped_column(
        Enum(
            enum_cls,
            native_enum=False,
            length=max(length, 16),
            values_callable=lambda e: [m.value for m in e],
            validate_strings=True,
        ),
        **kwargs,
    )


def created_at_column() -> Mapped[datetime]:
    """A creation timestamp set by the application (UTC)."""
    return mapped_column(default=utcnow)


def str_column(length: int, **kwargs: Any) -> Any:
    """A string column of a given maximal length."""
    return mapped_column(String(length), **kwargs)
