"""``lims keys``: the lab's certificate authority and users' signing keys."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import select

from lims.cli.common import (
    CliError,
    PasswordOpt,
    UserOpt,
    console,
    read_password,
    session_user,
)
from lims.models.pki import LabAuthority, RevocationList, SigningCredential, TimestampAuthority
from lims.models.users import User
from lims.quality.permissions import Permission, require
from lims.services.signing_keys import import_authority, import_credentials, issue_credentials

app = typer.Typer(
    help="Signing keys: the lab CA, its time-stamping authority and CRL, and each signer's "
    "key and certificate (PKCS#12).",
    no_args_is_help=True,
)

CaPasswordOpt = Annotated[
    Path | None,
    typer.Option("--ca-password-file", help="File whose first line is the CA passphrase."),
]


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise CliError(f"{path}: cannot read {what}: {exc.strerror}") from exc


@app.command("issue")
def keys_issue(
    user: UserOpt,
    password_file: PasswordOpt = None,
    ca_password_file: CaPasswordOpt = None,
) -> None:
    """Issue yourself a signing key from the lab CA (your password protects it; CA passphrase)."""
    password = read_password(password_file)
    ca_password = read_password(ca_password_file, "CA passphrase / CA 口令: ")
    from lims.cli.common import database, settings
    from lims.quality.accounts import login
    from lims.services.lab import policy_from

    s = settings()
    db = database(s)
    try:
        actor = login(db, user, password, policy_from(s))
        with db.write(actor=actor, reason="issue signing key") as session:
            me = session.get(User, actor.id)
            assert me is not None
            row = issue_credentials(session, me, password, ca_password)
            fingerprint = row.fingerprint_sha256
    finally:
        db.dispose()
    console.print(f"signing key issued to {user}: certificate SHA-256 {fingerprint}")


@app.command("import")
def keys_import(
    p12: Annotated[Path, typer.Option("--p12", help="Your PKCS#12 file (issued by the lab CA).")],
    user: UserOpt,
    password_file: PasswordOpt = None,
    p12_password_file: Annotated[
        Path | None, typer.Option(help="File whose first line is the PKCS#12 password.")
    ] = None,
) -> None:
    """Import your own signing key; it is re-encrypted with your LIMS password."""
    data = _read(p12, "the PKCS#12 file")
    p12_password = read_password(p12_password_file, "PKCS#12 password / 证书口令: ")
    password = read_password(password_file)
    from lims.cli.common import database, settings
    from lims.quality.accounts import login
    from lims.services.lab import policy_from

    s = settings()
    db = database(s)
    try:
        actor = login(db, user, password, policy_from(s))
        with db.write(actor=actor, reason="import signing key") as session:
            me = session.get(User, actor.id)
            assert me is not None
            row = import_credentials(session, me, data, p12_password, password)
            fingerprint = row.fingerprint_sha256
    finally:
        db.dispose()
    console.print(f"signing key of {user} imported: certificate SHA-256 {fingerprint}")


@app.command("import-ca")
def keys_import_ca(
    cert: Annotated[Path, typer.Option(help="The CA certificate (PEM).")],
    key: Annotated[Path, typer.Option(help="The CA private key (PEM).")],
    user: UserOpt,
    password_file: PasswordOpt = None,
    key_password_file: Annotated[
        Path | None, typer.Option(help="File with the key's password, if it is encrypted.")
    ] = None,
    ca_password_file: CaPasswordOpt = None,
) -> None:
    """Adopt the lab's own CA (administrator); its key is stored under the CA passphrase."""
    cert_pem, key_pem = _read(cert, "the certificate"), _read(key, "the key")
    key_password = read_password(key_password_file) if key_password_file else None
    ca_password = read_password(ca_password_file, "New CA passphrase / CA 口令: ")
    db, actor = session_user(user, password_file)
    try:
        require(actor, Permission.MANAGE_USERS)
        with db.write(actor=actor, reason="import lab CA") as session:
            import_authority(session, cert_pem, key_pem, key_password, ca_password)
    finally:
        db.dispose()
    console.print("lab CA imported; signers now need keys from it (`lims keys issue`)")


@app.command("tsa")
def keys_tsa(
    user: UserOpt,
    password_file: PasswordOpt = None,
    ca_password_file: CaPasswordOpt = None,
) -> None:
    """Issue (or rotate) the lab's time-stamping authority certificate from the lab CA."""
    from lims.services.timestamping import issue_timestamp_authority

    ca_password = read_password(ca_password_file, "CA passphrase / CA 口令: ")
    db, actor = session_user(user, password_file)
    try:
        require(actor, Permission.MANAGE_USERS)
        with db.write(actor=actor, reason="issue time-stamping authority") as session:
            row = issue_timestamp_authority(session, ca_password)
            fingerprint, until = row.fingerprint_sha256, row.not_after
    finally:
        db.dispose()
    console.print(
        f"time-stamping authority issued / 时间戳服务证书已签发: valid until {until:%Y-%m-%d}, "
        f"SHA-256 {fingerprint}",
        highlight=False,
    )


@app.command("crl")
def keys_crl(
    user: UserOpt,
    password_file: PasswordOpt = None,
    ca_password_file: CaPasswordOpt = None,
    days: Annotated[int, typer.Option(min=1, max=3650, help="Days the CRL is valid.")] = 365,
) -> None:
    """Issue a fresh revocation list (CRL) from the lab CA; issued certificates embed it."""
    from lims.services.timestamping import issue_revocation_list

    ca_password = read_password(ca_password_file, "CA passphrase / CA 口令: ")
    db, actor = session_user(user, password_file)
    try:
        require(actor, Permission.MANAGE_USERS)
        with db.write(actor=actor, reason="issue CRL") as session:
            row = issue_revocation_list(session, ca_password, valid_days=days)
            number, until = row.number, row.next_update
    finally:
        db.dispose()
    console.print(
        f"CRL {number} issued / 吊销列表已签发: next update {until:%Y-%m-%d}", highlight=False
    )


@app.command("export-ca")
def keys_export_ca(
    file: Annotated[Path, typer.Argument(help="Where to write the PEM (lab CA + TSA).")],
) -> None:
    """Write the lab CA and TSA certificates (PEM): what a third party needs to verify."""
    from lims.cli.common import database
    from lims.services.timestamping import exported_trust_pem

    db = database()
    try:
        with db.read() as session:
            pem = exported_trust_pem(session)
    finally:
        db.dispose()
    if not pem:
        raise CliError("the lab has no certificate authority yet: run `lims init`")
    try:
        file.write_bytes(pem)
    except OSError as exc:
        raise CliError(f"{file}: cannot write: {exc.strerror}") from exc
    console.print(
        f"written / 已导出: {file} ({pem.count(b'BEGIN CERTIFICATE')} certificates)",
        highlight=False,
    )


@app.command("list")
def keys_list(user: UserOpt, password_file: PasswordOpt = None) -> None:
    """The lab CAs and every signer's current certificate."""
    db, actor = session_user(user, password_file)
    try:
        require(actor, Permission.VIEW_RECORDS)
        with db.read() as session:
            for ca in session.scalars(select(LabAuthority).order_by(LabAuthority.id)):
                origin = "imported" if ca.imported else "created"
                console.print(
                    f"CA {ca.id}: {ca.common_name} ({origin}) SHA-256 {ca.fingerprint_sha256}",
                    highlight=False,
                )
            for tsa in session.scalars(select(TimestampAuthority).order_by(TimestampAuthority.id)):
                console.print(
                    f"TSA {tsa.id}: valid until {tsa.not_after:%Y-%m-%d} "
                    f"SHA-256 {tsa.fingerprint_sha256}",
                    highlight=False,
                )
            for crl in session.scalars(select(RevocationList).order_by(RevocationList.id)):
                console.print(
                    f"CRL {crl.number} (CA {crl.authority_id}): next update "
                    f"{crl.next_update:%Y-%m-%d}",
                    highlight=False,
                )
            latest: dict[int, SigningCredential] = {}
            for row in session.scalars(select(SigningCredential).order_by(SigningCredential.id)):
                latest[row.user_id] = row
            for user_id, row in latest.items():
                owner = session.get(User, user_id)
                name = owner.username if owner else str(user_id)
                console.print(
                    f"  {name:<12} valid until {row.not_after:%Y-%m-%d}  "
                    f"SHA-256 {row.fingerprint_sha256}",
                    highlight=False,
                )
    finally:
        db.dispose()
