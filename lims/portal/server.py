"""Running the portal under uvicorn (one process; sessions and rate limits live in it)."""

from __future__ import annotations

import logging

import uvicorn

from lims.db.readonly import read_only_problem
from lims.portal.app import create_app
from lims.portal.config import PortalConfig

__all__ = ["database_problem", "run"]


def database_problem(config: PortalConfig) -> str | None:
    """Why the portal cannot serve its database (unreachable, empty, not migrated), or None."""
    return read_only_problem(config.read_url, busy_timeout_ms=config.sqlite_busy_timeout_ms)


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
