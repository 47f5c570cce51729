"""The JSON API for customers' own systems: list, get, PDF, DCC, recall (bearer tokens).

A token is issued by the lab (``lims customers token issue``); every request
sends it as ``Authorization: Bearer lcp_…``. The same scoping as the pages
applies: a certificate that is not the token's customer's is 404.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from lims.db.types import utcnow
from lims.portal.criteria import CriteriaError, parse_criteria, parse_int
from lims.portal.customer import NOT_FOUND, send_file
from lims.portal.state import portal_state
from lims.portal.web import client_key, json_error
from lims.quality.due import RecallItem
from lims.quality.errors import NotFoundError
from lims.services.customer_accounts import CustomerPrincipal, principal_for_token
from lims.services.customer_certificates import (
    MAX_PAGE,
    CertificateFile,
    CertificatePage,
    CustomerCertificate,
    get_certificate,
    list_certificates,
    recall,
)

__all__ = ["routes"]


async def _principal(request: Request) -> CustomerPrincipal | Response:
    state = portal_state(request)
    wait = state.api_limiter.hit(client_key(request))
    if wait is not None:
        response = json_error(429, "too many requests")
        response.headers["retry-after"] = str(max(1, int(wait) + 1))
        return response
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return json_error(401, "send the API token as: Authorization: Bearer <token>")

    def lookup() -> CustomerPrincipal | None:
        with state.read_db.read() as session:
            return principal_for_token(session, token.strip())

    principal = await run_in_threadpool(lookup)
    if principal is None:
        return json_error(401, "unknown or revoked token")
    return principal


def _links(number: str) -> dict[str, str]:
    base = f"/api/v1/certificates/{number}"
    return {"self": base, "pdf": f"{base}/pdf", "dcc": f"{base}/dcc"}


def _entry(c: CustomerCertificate) -> dict[str, object]:
    return {**c.as_json(), "links": _links(c.number)}


async def list_endpoint(request: Request) -> Response:
    """``GET /api/v1/certificates?number=&serial=&from=&to=&offset=&limit=``."""
    principal = await _principal(request)
    if isinstance(principal, Response):
        return principal
    state = portal_state(request)
    try:
        criteria = parse_criteria(request.query_params)
        offset = parse_int(request.query_params, "offset", 0, 0, 10_000_000)
        limit = parse_int(request.query_params, "limit", 50, 1, MAX_PAGE)
    except CriteriaError as exc:
        return json_error(400, str(exc))

    def load() -> CertificatePage:
        with state.read_db.read() as session:
            return list_certificates(
                session,
                principal,
                number=criteria.number,
                serial=criteria.serial,
                date_from=criteria.date_from,
                date_to=criteria.date_to,
                offset=offset,
                limit=limit,
            )

    result = await run_in_threadpool(load)
    return JSONResponse(
        {
            "customer": principal.customer_name,
            "offset": result.offset,
            "limit": result.limit,
            "more": result.more,
            "certificates": [_entry(c) for c in result.certificates],
        },
        headers={"cache-control": "no-store"},
    )


async def get_endpoint(request: Request) -> Response:
    """``GET /api/v1/certificates/{number}``."""
    principal = await _principal(request)
    if isinstance(principal, Response):
        return principal
    state = portal_state(request)
    number = request.path_params["number"]

    def load() -> CustomerCertificate:
        with state.read_db.read() as session:
            return get_certificate(session, principal, number)

    try:
        found = await run_in_threadpool(load)
    except NotFoundError:
        return json_error(404, NOT_FOUND)
    return JSONResponse(_entry(found), headers={"cache-control": "no-store"})


async def pdf_endpoint(request: Request) -> Response:
    """``GET /api/v1/certificates/{number}/pdf``: the issued, signed PDF."""
    principal = await _principal(request)
    if isinstance(principal, Response):
        return principal
    return await send_file(request, principal, CertificateFile.PDF)


async def dcc_endpoint(request: Request) -> Response:
    """``GET /api/v1/certificates/{number}/dcc``: the DCC XML (signed PDF embedded)."""
    principal = await _principal(request)
    if isinstance(principal, Response):
        return principal
    return await send_file(request, principal, CertificateFile.DCC)


async def recall_endpoint(request: Request) -> Response:
    """``GET /api/v1/recall?within=60``: instruments whose verification expires soon."""
    principal = await _principal(request)
    if isinstance(principal, Response):
        return principal
    state = portal_state(request)
    try:
        within = parse_int(request.query_params, "within", 60, 0, 3660)
    except CriteriaError as exc:
        return json_error(400, str(exc))
    today = utcnow().date()

    def load() -> list[RecallItem]:
        with state.read_db.read() as session:
            return recall(session, principal, today, within)

    items = await run_in_threadpool(load)
    return JSONResponse(
        {
            "today": today.isoformat(),
            "within_days": within,
            "instruments": [
                {
                    "equipment": i.equipment,
                    "serial_number": i.serial_number,
                    "certificate": i.certificate_number,
                    "valid_until": i.valid_until.isoformat(),
                    "days_left": i.days_left,
                }
                for i in items
            ],
        },
        headers={"cache-control": "no-store"},
    )


routes = [
    Route("/api/v1/certificates", list_endpoint),
    Route("/api/v1/certificates/{number}", get_endpoint),
    Route("/api/v1/certificates/{number}/pdf", pdf_endpoint),
    Route("/api/v1/certificates/{number}/dcc", dcc_endpoint),
    Route("/api/v1/recall", recall_endpoint),
]
