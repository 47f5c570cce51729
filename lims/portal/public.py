"""Public pages: the verification page of a QR code, the upload check, the lab's CA and status list.

Nothing else of the lab is public.
"""

from __future__ import annotations

from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import Route

from lims.certificates.fonts import FONT_PATH
from lims.portal.forms import FormError, read_form
from lims.portal.state import portal_state
from lims.portal.web import client_key, csrf_ok, current_principal, error_page, page, rate_limited
from lims.services.public_verification import (
    MAX_NUMBER_LENGTH,
    PublicCertificate,
    PublicState,
    lab_ca_pem,
    public_certificate,
    published_status_list,
    verify_upload,
)

__all__ = ["UPLOAD_PATH", "routes"]

UPLOAD_PATH = "/verify"
_UPLOAD_FIELD = "certificate"


async def home(request: Request) -> Response:
    """The start page: look a number up, or check a file."""
    principal = await current_principal(request)
    state = portal_state(request)
    return page(
        request,
        "home.html",
        {"max_upload_mib": state.config.max_upload_bytes // (1024 * 1024)},
        principal=principal,
    )


async def lookup(request: Request) -> Response:
    """The number form of the start page: on to the number's verification page."""
    number = request.query_params.get("number", "").strip()
    if not number:
        return RedirectResponse("/", status_code=303)
    if len(number) > MAX_NUMBER_LENGTH:
        return error_page(request, 400, "证书编号过长 The certificate number is too long.")
    return RedirectResponse(f"/v/{quote(number, safe='')}", status_code=303)


async def verification_page(request: Request) -> Response:
    """What the QR code opens: the certificate's state and whether the hash matches."""
    state = portal_state(request)
    limited = rate_limited(request, state.verify_limiter, client_key(request))
    if limited is not None:
        return limited
    number = request.path_params["number"]
    qr_hash = request.query_params.get("h")

    def load() -> PublicCertificate:
        with state.read_db.read() as session:
            return public_certificate(session, number, qr_hash)

    certificate = await run_in_threadpool(load)
    status = 404 if certificate.state is PublicState.UNKNOWN else 200
    return page(request, "verify.html", {"c": certificate}, status=status)


async def upload(request: Request) -> Response:
    """Check an uploaded PDF or DCC with the lab's verifier; the file is held in memory only."""
    state = portal_state(request)
    limited = rate_limited(request, state.verify_limiter, client_key(request))
    if limited is not None:
        return limited
    try:
        form = await read_form(request)
    except FormError as exc:
        return error_page(request, 400, f"表单无法读取 The form cannot be read: {exc}.")
    if not csrf_ok(request, form.text("csrf")):
        return error_page(
            request, 403, "表单已过期，请重新打开页面 The form expired: open the page again."
        )
    name, data = form.files.get(_UPLOAD_FIELD, ("", b""))
    if not data:
        return error_page(request, 400, "请选择一个 PDF 或 DCC 文件 Choose a PDF or DCC file.")
    shown_name = name.rsplit("/", 1)[-1].rsplit("\\", 1)[-1][:100] or "file"
    outcome = await run_in_threadpool(verify_upload, state.read_db, data, shown_name)
    del data, form
    return page(
        request,
        "upload_result.html",
        {"r": outcome, "filename": shown_name},
        status=200,
        private=True,
    )


async def ca_certificates(request: Request) -> Response:
    """The lab's CA certificates (PEM), the trust anchor for verifying offline."""
    state = portal_state(request)

    def load() -> bytes:
        with state.read_db.read() as session:
            return lab_ca_pem(session)

    pem = await run_in_threadpool(load)
    if not pem:
        return error_page(request, 404, "实验室尚无证书颁发机构 The lab has no CA yet.")
    return Response(
        pem,
        media_type="application/x-pem-file",
        headers={"content-disposition": 'attachment; filename="lab-ca.pem"'},
    )


async def status_list(request: Request) -> Response:
    """The signed status list the lab last published."""
    state = portal_state(request)
    data = await run_in_threadpool(published_status_list, state.config.status_list_file)
    if data is None:
        return error_page(
            request, 404, "实验室尚未发布状态列表 The lab has not published a status list yet."
        )
    return Response(
        data,
        media_type="application/json",
        headers={"content-disposition": 'attachment; filename="status-list.json"'},
    )


async def cjk_font(_request: Request) -> Response:
    """The CJK font the certificates embed, for browsers without one (no external assets)."""
    return FileResponse(
        FONT_PATH,
        media_type="font/ttf",
        headers={"cache-control": "public, max-age=604800"},
    )


async def robots(_request: Request) -> Response:
    """Search engines index nothing here."""
    return Response("User-agent: *\nDisallow: /\n", media_type="text/plain")


routes = [
    Route("/", home),
    Route("/v", lookup),
    Route("/v/{number}", verification_page),
    Route(UPLOAD_PATH, upload, methods=["POST"]),
    Route("/lab-ca.pem", ca_certificates),
    Route("/status-list", status_list),
    Route("/robots.txt", robots),
    Route("/fonts/cjk.ttf", cjk_font),
]
