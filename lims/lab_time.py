"""The lab's time zone: dates on certificates (performance, issue, validity) are the lab's
local dates, while every stored instant stays in UTC.

A certificate approved at 23:30 UTC in a lab in Beijing is issued the next day; the zone is
recorded in the certificate's content so a verifier reaches the same date offline.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["DEFAULT_TIME_ZONE", "TimeZoneError", "local_date", "zone"]

#: The zone of a lab that has not set its own (China Standard Time).
DEFAULT_TIME_ZONE = "Asia/Shanghai"


class TimeZoneError(ValueError):
    """A time-zone name the IANA database does not know."""


def zone(name: str) -> ZoneInfo:
    """The IANA zone ``name`` (e.g. ``Asia/Shanghai``); :class:`TimeZoneError` if unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise TimeZoneError(
            f"unknown time zone {name!r} (an IANA name such as Asia/Shanghai)"
        ) from exc


def local_date(instant: datetime, time_zone: str) -> date:
    """The calendar date of ``instant`` in ``time_zone`` (a naive instant is taken as UTC)."""
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=UTC)
    return instant.astimezone(zone(time_zone)).date()
