"""Customer pages: login, the customer's certificates (search, download) and its recall list.

Every query goes through :mod:`lims.services.customer_certificates`, which scopes
it to the logged-in account's customer.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from lims.db.types import utcnow
from lims.portal.criteria import CriteriaError, parse_criteria, parse_int
from lims.portal.forms import FormError, read_form
from lims.portal.state import portal_state
from lims.portal.web import (
    client_key,
    csrf_ok,
    current_principal,
    error_page,
    page,
    rate_limited,
    set_cookie,
)
from lims.quality.due import RecallItem
from lims.quality.errors import NotFoundError, QualityError
from lims.security import AuthenticationError
from lims.services.customer_accounts import CustomerPrincipal, customer_login
from lims.services.customer_certificates import (
    CertificateFile,
    CertificatePage,
    CustomerCertificate,
    certificate_file,
    get_certificate,
    list_certificates,
    recall,
)

__all__ = ["NOT_FOUND", "download_name", "routes", "send_file"]

log = logging.getLogger("lims.portal")
PAGE_SIZE = 25
#: The one answer for a certificate that is not the customer's, or does not exist.
NOT_FOUND = "没有这份证书 No such certificate in your account."
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]")


def download_name(number: str, kind: CertificateFile) -> str:
    """The file name offered for a download (only safe characters)."""
    return _SAFE_NAME.sub("_", number) + kind.suffix


def _next_path(value: str) -> str:
    """Where to go after logging in: only this portal's account pages."""
    if value.startswith("/account") and "//" not in value and "\\" not in value:
        return value
    return "/account/certificates"


def _to_login(request: Request) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse("/login?" + urlencode({"next": target}), status_code=303)


async def login_form(request: Request) -> Response:
    """The customer login form."""
    if await current_principal(request) is not None:
        return RedirectResponse("/account/certificates", status_code=303)
    return page(
        request,
        "login.html",
        {"next": _next_path(request.query_params.get("next", "")), "error": None},
    )


async def login(request: Request) -> Response:
    """Check the name and password (audited, with lockout); start a session."""
    state = portal_state(request)
    try:
        form = await read_form(request)
    except FormError as exc:
        return error_page(request, 400, f"表单无法读取 The form cannot be read: {exc}.")
    if not csrf_ok(request, form.text("csrf")):
        return error_page(
            request, 403, "表单已过期，请重新打开页面 The form expired: open the page again."
        )
    username = form.text("username").strip()[:64]
    password = form.text("password")
    target = _next_path(form.text("next"))
    limited = rate_limited(
        request, state.login_limiter, client_key(request), f"account:{username.lower()}"
    )
    if limited is not None:
        return limited
    if not username or not password:
        return page(
            request,
            "login.html",
            {"next": target, "error": "请输入账户名和密码 Enter the account name and password."},
            status=400,
        )
    try:
        principal = await run_in_threadpool(
            customer_login, state.accounts_db, username, password, state.config.policy
        )
    except AuthenticationError as exc:
        log.info("portal login refused for %r from %s", username, client_key(request))
        return page(
            request,
            "login.html",
            {"next": target, "error": f"登录失败 Login failed: {exc}."},
            status=401,
        )
    state.sessions.drop(request.cookies.get(state.session_cookie))
    sid = state.sessions.create(principal.account_id)
    response = RedirectResponse(target, status_code=303)
    set_cookie(state, response, state.session_cookie, sid)
    set_cookie(state, response, state.csrf_cookie, state.csrf.new())
    return response


async def logout(request: Request) -> Response:
    """End the session."""
    state = portal_state(request)
    try:
        form = await read_form(request)
    except FormError as exc:
        return error_page(request, 400, f"表单无法读取 The form cannot be read: {exc}.")
    if not csrf_ok(request, form.text("csrf")):
        return error_page(
            request, 403, "表单已过期，请重新打开页面 The form expired: open the page again."
        )
    state.sessions.drop(request.cookies.get(state.session_cookie))
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(state.session_cookie, path="/")
    return response


async def account_home(request: Request) -> Response:
    """The account's start: its certificates."""
    return RedirectResponse("/account/certificates", status_code=303)


async def certificates(request: Request) -> Response:
    """The customer's certificates, searched by number, serial number and issue dates."""
    principal = await current_principal(request)
    if principal is None:
        return _to_login(request)
    state = portal_state(request)
    try:
        criteria = parse_criteria(request.query_params)
        number = parse_int(request.query_params, "page", 1, 1, 100_000)
    except CriteriaError as exc:
        return page(
            request,
            "certificates.html",
            {"result": None, "criteria": None, "error": str(exc), "page_number": 1},
            status=400,
            principal=principal,
            private=True,
        )

    def load() -> CertificatePage:
        with state.read_db.read() as session:
            return list_certificates(
                session,
                principal,
                number=criteria.number,
                serial=criteria.serial,
                date_from=criteria.date_from,
                date_to=criteria.date_to,
                offset=(number - 1) * PAGE_SIZE,
                limit=PAGE_SIZE,
            )

    result = await run_in_threadpool(load)
    query = criteria.as_query()
    return page(
        request,
        "certificates.html",
        {
            "result": result,
            "criteria": criteria,
            "error": None,
            "page_number": number,
            "next_link": "?" + urlencode({**query, "page": number + 1}) if result.more else None,
            "previous_link": "?" + urlencode({**query, "page": number - 1}) if number > 1 else None,
        },
        principal=principal,
        private=True,
    )


async def certificate(request: Request) -> Response:
    """One of the customer's certificates, with its downloads."""
    principal = await current_principal(request)
    if principal is None:
        return _to_login(request)
    state = portal_state(request)
    number = request.path_params["number"]

    def load() -> CustomerCertificate:
        with state.read_db.read() as session:
            return get_certificate(session, principal, number)

    try:
        found = await run_in_threadpool(load)
    except NotFoundError:
        return error_page(request, 404, NOT_FOUND)
    return page(request, "certificate.html", {"c": found}, principal=principal, private=True)


def _file(kind: CertificateFile) -> Callable[[Request], Awaitable[Response]]:
    async def download(request: Request) -> Response:
        principal = await current_principal(request)
        if principal is None:
            return _to_login(request)
        return await send_file(request, principal, kind)

    download.__doc__ = f"Download the {kind.value.upper()} of one of the customer's certificates."
    return download


async def send_file(
    request: Request, principal: CustomerPrincipal, kind: CertificateFile
) -> Response:
    """The certificate's file as a download, or 404 if it is not the customer's."""
    state = portal_state(request)
    number = request.path_params["number"]

    def load() -> bytes:
        with state.read_db.read() as session:
            return certificate_file(session, principal, number, kind)

    try:
        data = await run_in_threadpool(load)
    except NotFoundError:
        return error_page(request, 404, NOT_FOUND)
    return Response(
        data,
        media_type=kind.media_type,
        headers={
            "content-disposition": f'attachment; filename="{download_name(number, kind)}"',
            "cache-control": "no-store",
        },
    )


async def recall_page(request: Request) -> Response:
    """The customer's instruments coming due for verification."""
    principal = await current_principal(request)
    if principal is None:
        return _to_login(request)
    state = portal_state(request)
    try:
        within = parse_int(request.query_params, "within", 60, 0, 3660)
    except CriteriaError as exc:
        return error_page(request, 400, str(exc))
    today = utcnow().date()

    def load() -> list[RecallItem]:
        with state.read_db.read() as session:
            return recall(session, principal, today, within)

    try:
        items = await run_in_threadpool(load)
    except QualityError as exc:
        return error_page(request, 400, str(exc))
    return page(
        request,
        "recall.html",
        {"items": items, "within": within, "today": today},
        principal=principal,
        private=True,
    )


routes = [
    Route("/login", login_form),
    Route("/login", login, methods=["POST"]),
    Route("/logout", logout, methods=["POST"]),
    Route("/account", account_home),
    Route("/account/certificates", certificates),
    Route("/account/certificates/{number}", certificate),
    Route("/account/certificates/{number}/pdf", _file(CertificateFile.PDF)),
    Route("/account/certificates/{number}/dcc", _file(CertificateFile.DCC)),
    Route("/account/recall", recall_page),
]
