"""The lab PKI: CA creation and import, user PKCS#12 issue and import, password checks."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from lims.certificates import (
    LabCA,
    PkiError,
    WrongPasswordError,
    create_lab_ca,
    import_lab_ca,
    import_user_credentials,
    issue_user_credentials,
    load_signer,
)

from .conftest import CA_PASSWORD, Pki, password_of


def test_ca_is_self_signed_ca_with_encrypted_key(pki: Pki, tmp_path: Path) -> None:
    cert = pki.ca.certificate
    assert cert.issuer == cert.subject
    cert.verify_directly_issued_by(cert)
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert b"ENCRYPTED PRIVATE KEY" in pki.ca.encrypted_key_pem
    cert_path, key_path = pki.ca.save(tmp_path / "pki")
    assert key_path.stat().st_mode & 0o077 == 0
    loaded = LabCA.load(tmp_path / "pki")
    assert loaded.certificate == cert
    loaded.private_key(CA_PASSWORD)
    with pytest.raises(WrongPasswordError, match="wrong password"):
        loaded.private_key("not the password")
    assert cert_path.read_bytes() == pki.ca.certificate_pem


def test_user_certificate_is_issued_by_the_ca(pki: Pki) -> None:
    for meaning, creds in pki.credentials.items():
        cert = creds.certificate
        cert.verify_directly_issued_by(pki.ca.certificate)
        uid = cert.subject.get_attributes_for_oid(NameOID.USER_ID)[0].value
        assert uid == creds.user_id
        ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
        assert ku.digital_signature
        assert ku.content_commitment
        assert not ku.key_cert_sign
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        assert ExtendedKeyUsageOID.EMAIL_PROTECTION in eku
        assert pki.signers[meaning].user_id == creds.user_id


def test_wrong_password_is_refused(pki: Pki) -> None:
    creds = pki.credentials[next(iter(pki.credentials))]
    with pytest.raises(WrongPasswordError, match="wrong password"):
        load_signer(creds.pkcs12, "guess")
    with pytest.raises(WrongPasswordError):
        load_signer(creds.pkcs12, "")
    with pytest.raises(WrongPasswordError, match="wrong password"):
        issue_user_credentials(
            pki.ca, "bad CA password", user_id="x", display_name="X", user_password="p"
        )
    with pytest.raises(PkiError, match="non-empty password"):
        issue_user_credentials(pki.ca, CA_PASSWORD, user_id="x", display_name="X", user_password="")


def test_import_existing_ca_and_user_keys(pki: Pki) -> None:
    other = create_lab_ca("Other CA", "Other Lab", "other-pw", key_type="rsa-3072")
    key = other.private_key("other-pw")
    plain_key = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    imported = import_lab_ca(other.certificate_pem, plain_key, None, "new-ca-pw")
    assert imported.certificate == other.certificate
    imported.private_key("new-ca-pw")
    with pytest.raises(WrongPasswordError):
        import_lab_ca(other.certificate_pem, other.encrypted_key_pem, "wrong", "x")
    with pytest.raises(PkiError, match="does not belong"):
        import_lab_ca(pki.ca.certificate_pem, plain_key, None, "x")
    user = pki.credentials[next(iter(pki.credentials))]
    user_key, user_cert, _ = pkcs12.load_key_and_certificates(
        user.pkcs12, password_of(user.user_id).encode()
    )
    assert user_key is not None
    assert user_cert is not None
    user_key_pem = user_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with pytest.raises(PkiError, match="not a CA certificate"):
        import_lab_ca(user_cert.public_bytes(serialization.Encoding.PEM), user_key_pem, None, "x")

    foreign = issue_user_credentials(
        other, "other-pw", user_id="eve", display_name="Eve", user_password="eve-pw"
    )
    with pytest.raises(PkiError, match="not issued by the lab CA"):
        import_user_credentials(foreign.pkcs12, "eve-pw", pki.ca)
    with pytest.raises(PkiError, match="not issued by the lab CA"):
        load_signer(foreign.pkcs12, "eve-pw", ca=pki.ca)
    own = pki.credentials[next(iter(pki.credentials))]
    again = import_user_credentials(
        own.pkcs12, password_of(own.user_id), pki.ca, new_password="renewed"
    )
    assert again.user_id == own.user_id
    assert load_signer(again.pkcs12, "renewed", ca=pki.ca).display_name == own.display_name
