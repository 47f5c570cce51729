"""Helpers shared by the portal's pages: rendering, cookies, CSRF, limits, errors."""

from __future__ import annotations

import logging
import math
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from lims.portal.protection import RateLimiter
from lims.portal.state import PortalState, portal_state
from lims.services.customer_accounts import CustomerPrincipal, principal_for_account
from lims.vocabulary import BiText

__all__ = [
    "client_key",
    "current_principal",
    "error_page",
    "json_error",
    "page",
    "rate_limited",
    "same_origin",
]

log = logging.getLogger("lims.portal")

_ERRORS = {
    400: BiText("请求有误", "Bad request"),
    401: BiText("需要登录", "Login required"),
    403: BiText("禁止访问", "Forbidden"),
    404: BiText("未找到", "Not found"),
    405: BiText("不支持的请求方法", "Method not allowed"),
    413: BiText("请求过大", "Request too large"),
    429: BiText("请求过于频繁", "Too many requests"),
    500: BiText("服务器内部错误", "Internal error"),
}


def client_key(request: Request) -> str:
    """The client's address (the proxy's forwarded one when the proxy is trusted)."""
    return request.client.host if request.client is not None else "?"


def _csrf_token(state: PortalState, request: Request) -> tuple[str, bool]:
    """The browser's CSRF token, or a new one (True when it must be set)."""
    current = request.cookies.get(state.csrf_cookie)
    if state.csrf.valid(current):
        assert current is not None
        return current, False
    return state.csrf.new(), True


def set_cookie(state: PortalState, response: Response, name: str, value: str) -> None:
    """A cookie only this site's pages send back: HttpOnly, SameSite=Strict, path /."""
    response.set_cookie(
        name,
        value,
        httponly=True,
        samesite="strict",
        secure=state.config.secure_cookies,
        path="/",
    )


def page(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status: int = 200,
    principal: CustomerPrincipal | None = None,
    private: bool = False,
) -> HTMLResponse:
    """Render a page; every page carries the lab header and a CSRF token for its forms."""
    state = portal_state(request)
    token, fresh = _csrf_token(state, request)
    body = state.render(
        template,
        {
            "lab": state.lab(),
            "csrf": token,
            "principal": principal,
            "request_path": request.url.path,
            **(context or {}),
        },
    )
    response = HTMLResponse(body, status_code=status)
    if fresh:
        set_cookie(state, response, state.csrf_cookie, token)
    response.headers["cache-control"] = "no-store" if private else "no-cache"
    return response


def error_page(
    request: Request, status: int, detail: str = "", *, retry_after: float | None = None
) -> Response:
    """A bilingual error page (JSON under /api/); never a stack trace."""
    title = _ERRORS.get(status, _ERRORS[500])
    if request.url.path.startswith("/api/"):
        response: Response = json_error(status, detail or title.en)
    else:
        try:
            response = page(
                request, "error.html", {"title": title, "detail": detail}, status=status
            )
        except Exception:  # the lab database itself may be what failed
            log.exception("error page could not be rendered")
            response = HTMLResponse(
                f"<!doctype html><title>{status}</title><p>{title.zh} {title.en}</p>",
                status_code=status,
            )
    if retry_after is not None:
        response.headers["retry-after"] = str(max(1, math.ceil(retry_after)))
    return response


def json_error(status: int, message: str) -> JSONResponse:
    """An API error: ``{"error": message}``."""
    response = JSONResponse({"error": message}, status_code=status)
    if status == 401:
        response.headers["www-authenticate"] = 'Bearer realm="lims"'
    return response


def rate_limited(request: Request, limiter: RateLimiter, *keys: str) -> Response | None:
    """A 429 response when any of ``keys`` is over the limit, else None."""
    for key in keys:
        wait = limiter.hit(key)
        if wait is not None:
            log.warning("rate limit reached on %s for %s", request.url.path, key)
            return error_page(
                request,
                429,
                "请稍后再试 Please try again later.",
                retry_after=wait,
            )
    return None


def same_origin(request: Request) -> bool:
    """False when the browser says the request comes from another site.

    Browsers may send ``Origin: null`` (privacy settings, sandboxed frames): that
    says nothing, and the CSRF token and the SameSite cookie decide.
    """
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return True
    return origin == f"{request.url.scheme}://{request.url.netloc}"


def csrf_ok(request: Request, submitted: str) -> bool:
    """The form's CSRF token matches the browser's cookie, from this site."""
    state = portal_state(request)
    return same_origin(request) and state.csrf.matches(
        request.cookies.get(state.csrf_cookie), submitted
    )


async def current_principal(request: Request) -> CustomerPrincipal | None:
    """The logged-in customer account, or None (the session is dropped if it lapsed)."""
    state = portal_state(request)
    sid = request.cookies.get(state.session_cookie)
    session = state.sessions.get(sid)
    if session is None:
        return None

    def lookup() -> CustomerPrincipal | None:
        with state.read_db.read() as db_session:
            return principal_for_account(db_session, session.account_id)

    principal = await run_in_threadpool(lookup)
    if principal is None:
        state.sessions.drop(sid)
    return principal
