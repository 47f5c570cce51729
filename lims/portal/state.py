"""What one portal process holds: its databases, sessions, limiters and templates."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.requests import Request

from lims.db import Database
from lims.portal.config import PortalConfig
from lims.portal.protection import CsrfSigner, RateLimiter, SessionStore
from lims.services.public_verification import LabHeader, lab_header

__all__ = ["PortalState", "portal_state"]

HERE = Path(__file__).resolve().parent
#: How often the page header's lab names are read again.
LAB_REFRESH_SECONDS = 60.0
#: The header until the lab profile has been read.
UNNAMED_LAB = LabHeader("校准实验室", "Calibration laboratory", "")


def _datetime(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value is not None else "—"


def _date(value: date | datetime | None) -> str:
    return value.strftime("%Y-%m-%d") if value is not None else "—"


def _templates() -> Environment:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["dt"] = _datetime
    env.filters["d"] = _date
    return env


@dataclass
class PortalState:
    """The portal's shared objects (one per process)."""

    config: PortalConfig
    read_db: Database
    accounts_db: Database
    templates: Environment = field(default_factory=_templates)
    csrf: CsrfSigner = field(default_factory=CsrfSigner)
    sessions: SessionStore = field(init=False)
    login_limiter: RateLimiter = field(init=False)
    verify_limiter: RateLimiter = field(init=False)
    api_limiter: RateLimiter = field(init=False)
    _lab: LabHeader = field(default_factory=lambda: UNNAMED_LAB)

    def __post_init__(self) -> None:
        c = self.config
        self.sessions = SessionStore(c.session_idle_seconds, c.session_max_seconds)
        self.login_limiter = RateLimiter(c.login_rate)
        self.verify_limiter = RateLimiter(c.verify_rate)
        self.api_limiter = RateLimiter(c.api_rate)

    @property
    def session_cookie(self) -> str:
        """The session cookie's name (``__Host-`` bound to the host behind TLS)."""
        return "__Host-lims-session" if self.config.secure_cookies else "lims-session"

    @property
    def csrf_cookie(self) -> str:
        """The CSRF cookie's name."""
        return "__Host-lims-csrf" if self.config.secure_cookies else "lims-csrf"

    def lab(self) -> LabHeader:
        """The lab's names for the page header, as last read (never waits for the database)."""
        return self._lab

    def refresh_lab(self) -> None:
        """Read the lab's names again (in a worker thread: see :mod:`lims.portal.app`)."""
        with self.read_db.read() as session:
            self._lab = lab_header(session)

    def render(self, name: str, context: dict[str, Any]) -> str:
        """A page from its template."""
        return self.templates.get_template(name).render(**context)

    def dispose(self) -> None:
        """Close the database connections."""
        self.read_db.dispose()
        if self.accounts_db is not self.read_db:
            self.accounts_db.dispose()


def portal_state(request: Request) -> PortalState:
    """The state of the portal serving ``request``."""
    state = request.app.state.portal
    assert isinstance(state, PortalState)
    return state
