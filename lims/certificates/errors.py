"""Exceptions of the certificate library.

Every refusal names what is wrong and where, so that a command line or a
dialog can show it to the user unchanged.
"""

from __future__ import annotations

__all__ = [
    "CertificateDataError",
    "CertificateError",
    "DccError",
    "PkiError",
    "SigningError",
    "WrongPasswordError",
]


class CertificateError(Exception):
    """Base class of every error raised by :mod:`lims.certificates`."""


class CertificateDataError(CertificateError, ValueError):
    """A certificate document is incomplete or inconsistent (the message names the field)."""


class PkiError(CertificateError):
    """A key, certificate or PKCS#12 file of the lab PKI cannot be used."""


class WrongPasswordError(PkiError):
    """The password does not open the key or PKCS#12 file."""


class SigningError(CertificateError):
    """A PDF cannot be signed (unknown field, field already signed, unreadable PDF...)."""


class DccError(CertificateError):
    """A DCC cannot be built or does not validate."""
