"""The lab's signed certificate status list: which numbers are issued, superseded or revoked.

A verifier without the lab database learns from it whether a certificate was
withdrawn. The file is JSON in a JWS-like envelope::

    {"format": "carbon-lims-status-list/1",
     "payload": "<the list as JSON text>",
     "algorithm": "ecdsa-sha256" | "rsa-pkcs1v15-sha256",
     "signature": "<base64 of the lab CA's signature over the UTF-8 payload>",
     "signer": "<the lab CA certificate, PEM>"}

The payload names the lab, the UTC time it was made and every certificate number
the lab made public, with its state (``issued``, ``superseded`` with the number
that replaces it, ``revoked`` with the reason). :func:`read_status_list` accepts
it only if the signer is one of the given trust roots and the signature holds.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from lims.certificates.errors import CertificateError

__all__ = [
    "STATUS_LIST_FORMAT",
    "CertificateState",
    "StatusEntry",
    "StatusList",
    "StatusListError",
    "read_status_list",
    "sign_status_list",
]

STATUS_LIST_FORMAT = "carbon-lims-status-list/1"


class StatusListError(CertificateError):
    """A status list that cannot be read or whose signature does not hold."""


class CertificateState(StrEnum):
    """The public state of a certificate number."""

    ISSUED = "issued"
    SUPERSEDED = "superseded"
    REVOKED = "revoked"


@dataclass(frozen=True)
class StatusEntry:
    """One certificate number and its state."""

    number: str
    state: CertificateState
    superseded_by: str | None = None
    reason: str = ""


@dataclass(frozen=True)
class StatusList:
    """The lab's list of certificate states at ``issued_at`` (UTC)."""

    lab: str
    issued_at: datetime
    entries: tuple[StatusEntry, ...]

    def state_of(self, number: str) -> StatusEntry | None:
        """The entry for ``number``, or None when the list does not name it."""
        return next((e for e in self.entries if e.number == number), None)

    def payload(self) -> bytes:
        """The canonical JSON text that is signed."""
        data = {
            "lab": self.lab,
            "issued_at": self.issued_at.isoformat(),
            "certificates": [
                {
                    "number": e.number,
                    "state": e.state.value,
                    "superseded_by": e.superseded_by,
                    "reason": e.reason,
                }
                for e in self.entries
            ],
        }
        return json.dumps(data, ensure_ascii=False, sort_keys=True, indent=1).encode("utf-8")


def sign_status_list(status: StatusList, ca_certificate: x509.Certificate, ca_key: Any) -> bytes:
    """The signed status-list file (JSON envelope), signed with the lab CA key."""
    payload = status.payload()
    if isinstance(ca_key, ec.EllipticCurvePrivateKey):
        algorithm, signature = "ecdsa-sha256", ca_key.sign(payload, ec.ECDSA(hashes.SHA256()))
    elif isinstance(ca_key, rsa.RSAPrivateKey):
        algorithm = "rsa-pkcs1v15-sha256"
        signature = ca_key.sign(payload, padding.PKCS1v15(), hashes.SHA256())
    else:
        raise StatusListError(f"unsupported lab CA key {type(ca_key).__name__}")
    envelope = {
        "format": STATUS_LIST_FORMAT,
        "payload": payload.decode("utf-8"),
        "algorithm": algorithm,
        "signature": base64.b64encode(signature).decode("ascii"),
        "signer": ca_certificate.public_bytes(serialization.Encoding.PEM).decode("ascii"),
    }
    return json.dumps(envelope, ensure_ascii=False, indent=1).encode("utf-8")


def read_status_list(data: bytes, trust_roots: Sequence[x509.Certificate]) -> StatusList:
    """Check the signature of a status-list file and return its content."""
    try:
        envelope = json.loads(data)
        if envelope.get("format") != STATUS_LIST_FORMAT:
            raise StatusListError(f"not a status list of format {STATUS_LIST_FORMAT}")
        payload = str(envelope["payload"]).encode("utf-8")
        signature = base64.b64decode(str(envelope["signature"]), validate=True)
        signer = x509.load_pem_x509_certificate(str(envelope["signer"]).encode("ascii"))
        algorithm = str(envelope["algorithm"])
    except StatusListError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise StatusListError(f"the status list cannot be read: {exc}") from exc
    der = serialization.Encoding.DER
    if signer.public_bytes(der) not in {r.public_bytes(der) for r in trust_roots}:
        raise StatusListError("the status list is not signed by the given lab CA")
    key = signer.public_key()
    try:
        if algorithm == "ecdsa-sha256" and isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, payload, ec.ECDSA(hashes.SHA256()))
        elif algorithm == "rsa-pkcs1v15-sha256" and isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, payload, padding.PKCS1v15(), hashes.SHA256())
        else:
            raise StatusListError(f"status list: unsupported algorithm {algorithm!r}")
    except InvalidSignature as exc:
        raise StatusListError("the status list was altered (its signature does not hold)") from exc
    try:
        content = json.loads(payload)
        entries = tuple(
            StatusEntry(
                str(e["number"]),
                CertificateState(e["state"]),
                e.get("superseded_by"),
                str(e.get("reason") or ""),
            )
            for e in content["certificates"]
        )
        return StatusList(
            str(content["lab"]), datetime.fromisoformat(content["issued_at"]), entries
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise StatusListError(f"the status list content cannot be read: {exc}") from exc
