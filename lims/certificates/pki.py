"""The lab's own public-key infrastructure (with ``cryptography``).

* :func:`create_lab_ca` makes the lab's root CA: a self-signed certificate and
  its private key, kept encrypted (PKCS#8, scrypt/AES-256) under the CA password.
* :func:`import_lab_ca` takes a lab's existing CA certificate and key instead.
* :func:`issue_user_credentials` gives a user a signing certificate and key,
  packaged as PKCS#12 encrypted with that user's own password (AES-256, PBKDF2).
* :func:`import_user_credentials` accepts an existing PKCS#12 whose certificate
  was issued by the lab CA.
* :func:`load_signer` opens a user's PKCS#12 with the password and returns a
  :class:`LabSigner` for :func:`lims.certificates.signing.sign_pdf`; a wrong
  password raises :class:`~lims.certificates.errors.WrongPasswordError`.

The subject of a user certificate carries the user id (``UID``) and the
printed name (``CN``): verification uses them to match a signature with the
signatory recorded in the certificate document.

Example::

    ca = create_lab_ca("某某碳计量中心 Root CA", "某某碳计量中心", ca_password="…")
    ca.save(Path("pki"))
    alice = issue_user_credentials(ca, "…", user_id="alice", display_name="王丽 Wang Li",
                                   user_password="alice's password")
    signer = load_signer(alice.pkcs12, "alice's password")
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from lims.certificates.errors import PkiError, WrongPasswordError

__all__ = [
    "KeyType",
    "LabCA",
    "LabSigner",
    "UserCredentials",
    "create_lab_ca",
    "import_lab_ca",
    "import_user_credentials",
    "issue_user_credentials",
    "load_signer",
]

KeyType = Literal["ec-p256", "ec-p384", "rsa-3072"]
"""Key algorithms offered: ECDSA P-256 (default; about RSA-3072 strength), P-384, RSA-3072."""

_PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey

CA_CERT_FILE = "lab-ca.crt.pem"
CA_KEY_FILE = "lab-ca.key.pem"


@dataclass(frozen=True)
class LabCA:
    """The lab's root CA: certificate and encrypted private key (PEM)."""

    certificate: x509.Certificate
    encrypted_key_pem: bytes

    @property
    def certificate_pem(self) -> bytes:
        """The CA certificate in PEM, to hand to verifiers as trust root."""
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def private_key(self, password: str) -> _PrivateKey:
        """Decrypt the CA key; :class:`WrongPasswordError` if the password is wrong."""
        return _load_encrypted_key(self.encrypted_key_pem, password, "lab CA key")

    def save(self, directory: Path) -> tuple[Path, Path]:
        """Write ``lab-ca.crt.pem`` and ``lab-ca.key.pem`` (encrypted) into ``directory``."""
        directory.mkdir(parents=True, exist_ok=True)
        cert_path = directory / CA_CERT_FILE
        key_path = directory / CA_KEY_FILE
        cert_path.write_bytes(self.certificate_pem)
        key_path.write_bytes(self.encrypted_key_pem)
        key_path.chmod(0o600)
        return cert_path, key_path

    @classmethod
    def load(cls, directory: Path) -> LabCA:
        """Read a CA written by :meth:`save`."""
        cert_path = directory / CA_CERT_FILE
        key_path = directory / CA_KEY_FILE
        for path in (cert_path, key_path):
            if not path.is_file():
                raise PkiError(f"lab CA file missing: {path}")
        cert = _load_certificate(cert_path.read_bytes(), str(cert_path))
        key_pem = key_path.read_bytes()
        if b"ENCRYPTED" not in key_pem:
            raise PkiError(f"{key_path}: the lab CA key must be stored encrypted")
        return cls(cert, key_pem)


@dataclass(frozen=True)
class UserCredentials:
    """A user's signing certificate and PKCS#12 (key + certificate + CA, password-encrypted)."""

    user_id: str
    display_name: str
    certificate: x509.Certificate
    pkcs12: bytes


@dataclass(frozen=True)
class LabSigner:
    """An opened signing identity, ready for :func:`~lims.certificates.signing.sign_pdf`."""

    user_id: str
    display_name: str
    certificate: x509.Certificate
    ca_certificate: x509.Certificate | None
    pyhanko_signer: Any
    """A :class:`pyhanko.sign.signers.SimpleSigner`."""
    private_key: Any = None
    """The signing key (``cryptography``), for the DCC's XML signature."""


def create_lab_ca(
    common_name: str,
    organization: str,
    ca_password: str,
    *,
    country: str = "CN",
    valid_days: int = 20 * 365,
    key_type: KeyType = "ec-p256",
    now: dt.datetime | None = None,
) -> LabCA:
    """Create the lab's self-signed root CA, its key encrypted with ``ca_password``."""
    _require_password(ca_password, "CA password")
    _require(common_name, "CA common name")
    _require(organization, "CA organization")
    key = _generate_key(key_type)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, country),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )
    start = _now(now) - dt.timedelta(minutes=5)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=valid_days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return LabCA(cert, _encrypt_key(key, ca_password))


def import_lab_ca(
    certificate_pem: bytes,
    key_pem: bytes,
    key_password: str | None,
    ca_password: str,
) -> LabCA:
    """Adopt an existing CA; its key is re-encrypted under ``ca_password``.

    The certificate must be a CA certificate allowed to sign certificates, and
    the key must belong to it.
    """
    _require_password(ca_password, "CA password")
    cert = _load_certificate(certificate_pem, "imported CA certificate")
    try:
        key = serialization.load_pem_private_key(
            key_pem, key_password.encode() if key_password else None
        )
    except (TypeError, ValueError) as exc:
        if b"ENCRYPTED" in key_pem and key_password:
            raise WrongPasswordError("imported CA key: wrong password") from exc
        raise PkiError(f"imported CA key: cannot read it ({exc})") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise PkiError(f"imported CA key: unsupported key type {type(key).__name__}")
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    if key.public_key().public_bytes(der, spki) != cert.public_key().public_bytes(der, spki):
        raise PkiError("imported CA key does not belong to the imported CA certificate")
    try:
        bc = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        bc = None
    if bc is None or not bc.ca:
        raise PkiError("imported CA certificate is not a CA certificate (basicConstraints cA)")
    try:
        ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
        if not ku.key_cert_sign:
            raise PkiError("imported CA certificate may not sign certificates (keyCertSign)")
    except x509.ExtensionNotFound:
        pass
    return LabCA(cert, _encrypt_key(key, ca_password))


def issue_user_credentials(
    ca: LabCA,
    ca_password: str,
    *,
    user_id: str,
    display_name: str,
    user_password: str,
    email: str | None = None,
    valid_days: int = 3 * 365,
    key_type: KeyType = "ec-p256",
    now: dt.datetime | None = None,
) -> UserCredentials:
    """Issue a signing certificate to a user; key and certificate go into a PKCS#12.

    The PKCS#12 is encrypted with ``user_password`` (AES-256-CBC, PBKDF2-SHA256,
    HMAC-SHA256) and also carries the CA certificate.
    """
    _require(user_id, "user id")
    _require(display_name, "display name")
    _require_password(user_password, f"password of user {user_id!r}")
    ca_key = ca.private_key(ca_password)
    key = _generate_key(key_type)
    org = ca.certificate.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    attrs = [
        x509.NameAttribute(NameOID.USER_ID, user_id),
        x509.NameAttribute(NameOID.COMMON_NAME, display_name),
    ]
    if org:
        attrs.insert(0, x509.NameAttribute(NameOID.ORGANIZATION_NAME, str(org[0].value)))
    builder = end_entity_builder(ca, ca_key, x509.Name(attrs), key, valid_days, now).add_extension(
        x509.ExtendedKeyUsage(
            [ExtendedKeyUsageOID.EMAIL_PROTECTION, x509.ObjectIdentifier("1.3.6.1.5.5.7.3.36")]
        ),
        critical=False,
    )
    if email:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.RFC822Name(email)]), critical=False
        )
    cert = builder.sign(ca_key, hashes.SHA256())
    data = _pack_pkcs12(user_id, key, cert, ca.certificate, user_password)
    return UserCredentials(user_id, display_name, cert, data)


def import_user_credentials(
    pkcs12_data: bytes,
    password: str,
    ca: LabCA,
    *,
    new_password: str | None = None,
) -> UserCredentials:
    """Accept a user's existing PKCS#12 if its certificate was issued by the lab CA.

    The result is re-packed (with the lab CA certificate) under ``new_password``
    or, if not given, the same password.
    """
    key, cert, _ = _open_pkcs12(pkcs12_data, password)
    _check_issued_by(cert, ca.certificate)
    user_id, name = _subject_identity(cert)
    data = _pack_pkcs12(user_id, key, cert, ca.certificate, new_password or password)
    return UserCredentials(user_id, name, cert, data)


def load_signer(pkcs12_data: bytes, password: str, *, ca: LabCA | None = None) -> LabSigner:
    """Open a user's PKCS#12 with the password; :class:`WrongPasswordError` if it is wrong.

    With ``ca``, also check the certificate was issued by it and is valid now.
    """
    from asn1crypto import keys as asn1_keys  # type: ignore[import-untyped]
    from asn1crypto import x509 as asn1_x509
    from pyhanko.sign.signers import SimpleSigner
    from pyhanko_certvalidator.registry import SimpleCertificateStore

    key, cert, extra = _open_pkcs12(pkcs12_data, password)
    ca_cert = ca.certificate if ca is not None else (extra[0] if extra else None)
    if ca is not None:
        _check_issued_by(cert, ca.certificate)
        now = dt.datetime.now(dt.UTC)
        if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
            raise PkiError(
                f"signing certificate of {_subject_identity(cert)[0]!r} is not valid now "
                f"({cert.not_valid_before_utc:%Y-%m-%d} – {cert.not_valid_after_utc:%Y-%m-%d})"
            )
    user_id, name = _subject_identity(cert)
    der_key = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    asn1_cert = asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))
    others = [
        asn1_x509.Certificate.load(c.public_bytes(serialization.Encoding.DER))
        for c in ([ca_cert] if ca_cert is not None else [])
    ]
    signer = SimpleSigner(
        signing_cert=asn1_cert,
        signing_key=asn1_keys.PrivateKeyInfo.load(der_key),
        cert_registry=SimpleCertificateStore.from_certs(  # type: ignore[no-untyped-call]
            [asn1_cert, *others]
        ),
    )
    return LabSigner(user_id, name, cert, ca_cert, signer, key)


def _subject_identity(cert: x509.Certificate) -> tuple[str, str]:
    uid = cert.subject.get_attributes_for_oid(NameOID.USER_ID)
    cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not cn:
        raise PkiError("signing certificate has no common name (CN) in its subject")
    name = str(cn[0].value)
    return (str(uid[0].value) if uid else name), name


def _check_issued_by(cert: x509.Certificate, ca_cert: x509.Certificate) -> None:
    try:
        cert.verify_directly_issued_by(ca_cert)
    except (ValueError, TypeError, InvalidSignature) as exc:
        raise PkiError(
            f"certificate {cert.subject.rfc4514_string()!r} was not issued by the lab CA "
            f"{ca_cert.subject.rfc4514_string()!r}"
        ) from exc


def _open_pkcs12(
    data: bytes, password: str
) -> tuple[_PrivateKey, x509.Certificate, list[x509.Certificate]]:
    if not isinstance(password, str):
        raise PkiError("a password (text) is required to open the PKCS#12 file")
    try:
        key, cert, extra = pkcs12.load_key_and_certificates(data, password.encode("utf-8"))
    except ValueError as exc:
        raise WrongPasswordError(
            "wrong password for this signing key (or the PKCS#12 file is damaged)"
        ) from exc
    if key is None or cert is None:
        raise PkiError("the PKCS#12 file holds no private key and certificate")
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise PkiError(f"unsupported key type in PKCS#12: {type(key).__name__}")
    return key, cert, list(extra)


def _pack_pkcs12(
    name: str, key: _PrivateKey, cert: x509.Certificate, ca_cert: x509.Certificate, password: str
) -> bytes:
    encryption = (
        serialization.PrivateFormat.PKCS12.encryption_builder()
        .kdf_rounds(100_000)
        .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
        .hmac_hash(hashes.SHA256())
        .build(password.encode("utf-8"))
    )
    return pkcs12.serialize_key_and_certificates(
        name.encode("utf-8"), key, cert, [ca_cert], encryption
    )


def _encrypt_key(key: _PrivateKey, password: str) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(password.encode("utf-8")),
    )


def _load_encrypted_key(pem: bytes, password: str, what: str) -> _PrivateKey:
    if not isinstance(password, str) or not password:
        raise WrongPasswordError(f"{what}: a password is required")
    try:
        key = serialization.load_pem_private_key(pem, password.encode("utf-8"))
    except (TypeError, ValueError) as exc:
        raise WrongPasswordError(f"{what}: wrong password") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise PkiError(f"{what}: unsupported key type {type(key).__name__}")
    return key


def _load_certificate(pem: bytes, what: str) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(pem)
    except ValueError as exc:
        raise PkiError(f"{what}: not a PEM X.509 certificate") from exc


def _generate_key(key_type: KeyType) -> _PrivateKey:
    if key_type == "ec-p256":
        return ec.generate_private_key(ec.SECP256R1())
    if key_type == "ec-p384":
        return ec.generate_private_key(ec.SECP384R1())
    if key_type == "rsa-3072":
        return rsa.generate_private_key(public_exponent=65537, key_size=3072)
    raise PkiError(f"unknown key type {key_type!r}; choose ec-p256, ec-p384 or rsa-3072")


def _require(value: str, what: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise PkiError(f"{what} is required")


def _require_password(password: str, what: str) -> None:
    if not isinstance(password, str) or not password:
        raise PkiError(f"{what}: a non-empty password is required")


def _now(now: dt.datetime | None) -> dt.datetime:
    if now is None:
        return dt.datetime.now(dt.UTC)
    if now.tzinfo is None:
        raise PkiError("time must carry its time zone")
    return now


def end_entity_builder(
    ca: LabCA,
    ca_key: Any,
    subject: x509.Name,
    key: Any,
    valid_days: int,
    now: dt.datetime | None = None,
) -> x509.CertificateBuilder:
    """A certificate the lab CA issues to a signer or service (not a CA): subject, validity
    within the CA's, key usage for signatures with non-repudiation, key identifiers. The
    caller adds its extended key usage and signs it with ``ca_key``."""
    start = _now(now) - dt.timedelta(minutes=5)
    end = min(start + dt.timedelta(days=valid_days), ca.certificate.not_valid_after_utc)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
    )
