"""The portal application: Starlette routes, middleware and error pages.

:func:`create_app` builds it over two databases: the lab's database opened
read-only (every page and the API read through it) and the connection through
which customer-account events (logins, failures, lockouts) are written by the
lab's audited services. Nothing else is ever written.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lims.db import Database
from lims.db.readonly import open_read_only
from lims.portal import api, customer, public
from lims.portal.config import PortalConfig
from lims.portal.protection import BodyLimitMiddleware, SecurityHeadersMiddleware
from lims.portal.state import HERE, LAB_REFRESH_SECONDS, PortalState
from lims.portal.web import error_page

__all__ = ["create_app"]

log = logging.getLogger("lims.portal")


async def _http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    return error_page(request, status)


async def _server_error(request: Request, exc: Exception) -> Response:
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_page(request, 500, "错误已记录 The error was logged for the laboratory.")


class ErrorBoundaryMiddleware:
    """Turns an unexpected error into the bilingual 500 page (logged, never shown)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking)
        except Exception as exc:
            if started:
                raise
            response = await _server_error(Request(scope), exc)
            await response(scope, receive, send)


def _first_refresh(state: PortalState) -> None:
    try:
        state.refresh_lab()
    except Exception:
        log.warning("the lab profile could not be read", exc_info=True)


def create_app(
    config: PortalConfig,
    *,
    read_db: Database | None = None,
    accounts_db: Database | None = None,
) -> Starlette:
    """The portal over the lab's database (read-only) and the account-event connection."""
    read = read_db or open_read_only(config.read_url, busy_timeout_ms=config.sqlite_busy_timeout_ms)
    accounts = accounts_db or Database(
        config.accounts_url, busy_timeout_ms=config.sqlite_busy_timeout_ms, require_reason=True
    )
    state = PortalState(config, read, accounts)

    stop = asyncio.Event()

    async def refresh_lab_regularly() -> None:
        while True:
            try:
                await asyncio.wait_for(stop.wait(), LAB_REFRESH_SECONDS)
                return
            except TimeoutError:
                pass
            try:
                await run_in_threadpool(state.refresh_lab)
            except Exception:  # the database may be down for a while: keep the last names
                log.warning("the lab profile could not be read", exc_info=True)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        await run_in_threadpool(_first_refresh, state)
        refresher = asyncio.create_task(refresh_lab_regularly())
        try:
            yield
        finally:
            stop.set()  # a refresh under way finishes first: no connection is left behind
            await refresher
            state.dispose()

    app = Starlette(
        debug=False,
        routes=[
            *public.routes,
            *customer.routes,
            *api.routes,
            Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
        ],
        middleware=[
            Middleware(SecurityHeadersMiddleware, hsts=config.secure_cookies),
            Middleware(ErrorBoundaryMiddleware),
            Middleware(
                BodyLimitMiddleware,
                default_limit=config.max_form_bytes,
                limits={public.UPLOAD_PATH: config.max_upload_bytes},
            ),
        ],
        exception_handlers={HTTPException: _http_error, Exception: _server_error},
        lifespan=lifespan,
    )
    app.state.portal = state
    return app
