"""The portal's settings: database paths, cookie security, limits.

Everything has a default that suits one lab server behind a TLS reverse proxy
on the same machine; ``lims portal serve`` options and ``LIMS_PORTAL_*``
environment variables change them (README: "Verification and customer portal").
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from lims.config import ConfigError, Settings, validate_database_url
from lims.security import PasswordPolicy

__all__ = ["PortalConfig", "RateLimit"]


@dataclass(frozen=True)
class RateLimit:
    """At most ``count`` requests per ``seconds`` from one client (0 turns it off)."""

    count: int
    seconds: float = 60.0

    @classmethod
    def parse(cls, text: str, where: str) -> RateLimit:
        """``"10/60"`` (10 per 60 s), ``"10/minute"``, or ``"0"`` (no limit)."""
        units = {"second": 1.0, "minute": 60.0, "hour": 3600.0}
        count_text, _, period = text.strip().partition("/")
        try:
            count = int(count_text)
            seconds = units[period] if period in units else float(period or 60)
        except (ValueError, KeyError) as exc:
            raise ConfigError(
                f"{where}: {text!r} is not a rate such as 10/minute or 10/60"
            ) from exc
        if count < 0 or seconds <= 0:
            raise ConfigError(f"{where}: {text!r} must be a positive count per positive time")
        return cls(count, seconds)

    @property
    def enabled(self) -> bool:
        """Whether the limit applies."""
        return self.count > 0


@dataclass(frozen=True)
class PortalConfig:
    """Settings of one portal process."""

    read_url: str
    """The lab database, read through a read-only path (see :mod:`lims.db.readonly`)."""
    accounts_url: str
    """Where customer-account events (logins, lockouts) are written through the services."""
    policy: PasswordPolicy = field(default_factory=PasswordPolicy)
    secure_cookies: bool = False
    """Behind TLS: cookies get ``Secure`` and the ``__Host-`` prefix, and HSTS is sent."""
    status_list_file: Path | None = None
    max_upload_bytes: int = 10 * 1024 * 1024
    max_form_bytes: int = 64 * 1024
    login_rate: RateLimit = RateLimit(10, 60.0)
    verify_rate: RateLimit = RateLimit(60, 60.0)
    api_rate: RateLimit = RateLimit(120, 60.0)
    session_idle_seconds: int = 30 * 60
    session_max_seconds: int = 8 * 3600
    sqlite_busy_timeout_ms: int = 10_000

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        policy: PasswordPolicy,
        env: Mapping[str, str] | None = None,
        **overrides: object,
    ) -> PortalConfig:
        """The lab's settings plus ``LIMS_PORTAL_*`` variables, then explicit overrides."""
        env = os.environ if env is None else env
        read_url = settings.database_url
        if env.get("LIMS_PORTAL_DATABASE_URL"):
            read_url = validate_database_url(
                env["LIMS_PORTAL_DATABASE_URL"], "LIMS_PORTAL_DATABASE_URL"
            )
        accounts_url = settings.database_url
        if env.get("LIMS_PORTAL_ACCOUNTS_DATABASE_URL"):
            accounts_url = validate_database_url(
                env["LIMS_PORTAL_ACCOUNTS_DATABASE_URL"], "LIMS_PORTAL_ACCOUNTS_DATABASE_URL"
            )
        values: dict[str, object] = {
            "read_url": read_url,
            "accounts_url": accounts_url,
            "policy": policy,
            "secure_cookies": env.get("LIMS_PORTAL_SECURE_COOKIES", "").lower()
            in {"1", "true", "yes"},
            "status_list_file": settings.data_dir / "status-list.json",
            "sqlite_busy_timeout_ms": settings.sqlite_busy_timeout_ms,
        }
        for key, name in (
            ("login_rate", "LIMS_PORTAL_LOGIN_RATE"),
            ("verify_rate", "LIMS_PORTAL_VERIFY_RATE"),
            ("api_rate", "LIMS_PORTAL_API_RATE"),
        ):
            if env.get(name):
                values[key] = RateLimit.parse(env[name], name)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]
