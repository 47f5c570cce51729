"""Running the portal under uvicorn (one process; sessions and rate limits live in it)."""

from __future__ import annotations

import logging

import uvicorn
from sqlalchemy.exc import SQLAlchemyError

from lims.db.migrate import current_revision, head_revision
from lims.db.readonly import open_read_only
from lims.portal.app import create_app
from lims.portal.config import PortalConfig

__all__ = ["database_problem", "run"]


def database_problem(config: PortalConfig) -> str | None:
    """Why the portal cannot serve this database (unreachable, empty, not migrated), or None."""
    db = open_read_only(config.read_url, busy_timeout_ms=config.sqlite_busy_timeout_ms)
    try:
        revision = current_revision(db.engine)
    except (SQLAlchemyError, ValueError) as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        return f"the lab database cannot be read: {reason}"
    finally:
        db.dispose()
    if revision is None:
        return "the lab database is empty: run `lims init` first"
    if revision != head_revision():
        return f"the lab database is at revision {revision}: run `lims db upgrade` first"
    return None


def run(config: PortalConfig, *, host: str, port: int, trusted_proxies: str) -> None:
    """Serve until interrupted. Client addresses come from ``X-Forwarded-For`` only
    when the connection comes from one of ``trusted_proxies``."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    uvicorn.run(
        create_app(config),
        host=host,
        port=port,
        proxy_headers=True,
        forwarded_allow_ips=trusted_proxies,
        server_header=False,
        timeout_keep_alive=5,
        limit_concurrency=200,
        log_level="info",
    )
