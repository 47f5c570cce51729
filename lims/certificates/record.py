"""Rebuild a :class:`CertificateDocument` from its canonical content record.

The content record (``doc.content_record()``) is what the signatures bind and
what the database keeps. Rebuilding the document from it lets the DCC, a
re-rendered view and verification use exactly the signed content, whatever has
changed in the lab's records since.
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from datetime import UTC, date, datetime
from typing import Any

from lims.certificates.errors import CertificateDataError
from lims.certificates.model import CONTENT_SCHEMA, CertificateDocument
from lims.units import from_storage

__all__ = ["document_from_record"]


def document_from_record(record: dict[str, Any]) -> CertificateDocument:
    """The document whose ``content_record()`` is ``record``.

    Raises :class:`CertificateDataError` if ``record`` is not a content record.
    """
    if not isinstance(record, dict) or record.get("schema") != CONTENT_SCHEMA:
        raise CertificateDataError(f"not a certificate content record of schema {CONTENT_SCHEMA!r}")
    data = {k: v for k, v in record.items() if k != "schema"}
    doc = _build(CertificateDocument, data, "record")
    assert isinstance(doc, CertificateDocument)
    return doc


def _build(cls: type, data: Any, where: str) -> Any:
    if not isinstance(data, dict):
        raise CertificateDataError(f"{where}: expected an object, got {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - fields
    if unknown:
        raise CertificateDataError(f"{where}: unknown fields {sorted(unknown)}")
    kwargs = {name: _value(hints[name], value, f"{where}.{name}") for name, value in data.items()}
    return cls(**kwargs)


def _value(hint: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        if value is None:
            return None
        if len(options) == 1:
            return _value(options[0], value, where)
        return value
    if origin is tuple:
        item = typing.get_args(hint)[0]
        if not isinstance(value, list):
            raise CertificateDataError(f"{where}: expected a list, got {value!r}")
        return tuple(_value(item, v, f"{where}[{i}]") for i, v in enumerate(value))
    if hint is Any:
        return _quantity_or_plain(value, where)
    if isinstance(hint, type):
        if dataclasses.is_dataclass(hint):
            return _build(hint, value, where)
        if issubclass(hint, enum.Enum):
            try:
                return hint(value)
            except ValueError as exc:
                raise CertificateDataError(f"{where}: {exc}") from exc
        if hint is datetime:
            return _datetime(value, where)
        if hint is date:
            return date.fromisoformat(value)
    return value


def _quantity_or_plain(value: Any, where: str) -> Any:
    if isinstance(value, dict) and set(value) == {"value", "unit"}:
        try:
            return from_storage(float(value["value"]), str(value["unit"]))
        except Exception as exc:
            raise CertificateDataError(f"{where}: bad quantity {value!r}: {exc}") from exc
    return value


def _datetime(value: Any, where: str) -> datetime:
    if not isinstance(value, str) or not value.endswith("Z"):
        raise CertificateDataError(f"{where}: expected a UTC time ending in Z, got {value!r}")
    return datetime.fromisoformat(value[:-1]).replace(tzinfo=UTC)
