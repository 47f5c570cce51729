"""Search criteria from a query string, shared by the customer pages and the JSON API."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from starlette.datastructures import QueryParams

__all__ = ["CriteriaError", "SearchCriteria", "parse_criteria", "parse_int"]


class CriteriaError(ValueError):
    """A query parameter that cannot be used; the message names it."""


@dataclass(frozen=True)
class SearchCriteria:
    """What a customer searches its certificates by."""

    number: str | None = None
    serial: str | None = None
    date_from: date | None = None
    date_to: date | None = None

    def as_query(self) -> dict[str, str]:
        """The criteria as query parameters (for the next page's link)."""
        out = {"number": self.number, "serial": self.serial}
        out["from"] = self.date_from.isoformat() if self.date_from else None
        out["to"] = self.date_to.isoformat() if self.date_to else None
        return {k: v for k, v in out.items() if v}


def _text(params: QueryParams, name: str) -> str | None:
    value = params.get(name, "").strip()
    if len(value) > 64:
        raise CriteriaError(f"{name}: longer than 64 characters")
    return value or None


def _date(params: QueryParams, name: str) -> date | None:
    value = params.get(name, "").strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise CriteriaError(f"{name}: {value[:20]!r} is not a date (YYYY-MM-DD)") from exc


def parse_int(params: QueryParams, name: str, default: int, low: int, high: int) -> int:
    """A whole number between ``low`` and ``high`` (``default`` when absent)."""
    value = params.get(name, "").strip()
    if not value:
        return default
    try:
        number = int(value)
    except ValueError as exc:
        raise CriteriaError(f"{name}: {value[:20]!r} is not a whole number") from exc
    if not low <= number <= high:
        raise CriteriaError(f"{name}: {number} is not between {low} and {high}")
    return number


def parse_criteria(params: QueryParams) -> SearchCriteria:
    """The search criteria of a request (:class:`CriteriaError` naming a bad one)."""
    criteria = SearchCriteria(
        number=_text(params, "number"),
        serial=_text(params, "serial"),
        date_from=_date(params, "from"),
        date_to=_date(params, "to"),
    )
    if criteria.date_from and criteria.date_to and criteria.date_to < criteria.date_from:
        raise CriteriaError("to: the end date is before the start date")
    return criteria
